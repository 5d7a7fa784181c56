using System.CommandLine;
using System.Net;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Parley.Cli;

/// <summary>
/// Metrics export for the server commands (docs/operations.md, "Metrics"): every Parley meter and
/// the runtime's own (<c>System.Runtime</c>), scraped by Prometheus from <c>--metrics-port</c> and/or
/// pushed over OTLP to <c>--otlp-endpoint</c>, through the OpenTelemetry SDK.
/// </summary>
internal static partial class Telemetry
{
    /// <summary>The meters exported: Parley's (<c>Parley</c>, <c>Parley.Chat</c>, <c>Parley.Journal</c>,
    /// <c>Parley.Chat.Nats</c>, <c>Parley.Udp</c>) and the runtime's (GC, thread pool, CPU).</summary>
    public static readonly string[] Meters = ["Parley", "Parley.*", "System.Runtime"];

    public static Option<int?> MetricsPort() => new Option<int?>("--metrics-port")
    {
        Description = "Serve Prometheus metrics (text format) at http://HOST:PORT/metrics, on --host's address (1 to 65535). Default: off.",
    }.Range(1, IPEndPoint.MaxPort, "");

    public static Option<string?> OtlpEndpoint()
    {
        var option = new Option<string?>("--otlp-endpoint")
        {
            Description = "Push metrics over OTLP to this collector URL (http://collector:4317 for grpc, http://collector:4318 for http/protobuf); every 60 s, or OTEL_METRIC_EXPORT_INTERVAL ms. Default: off.",
        };
        option.Validators.Add(result =>
        {
            string? value = result.GetValueOrDefault<string?>();
            if (value is not null && (!Uri.TryCreate(value, UriKind.Absolute, out Uri? uri) || uri.Scheme is not ("http" or "https")))
            {
                result.AddError($"--otlp-endpoint: '{CommandSettings.MaskUrlCredentials(value)}' is not an http:// or https:// URL.");
            }
        });
        return option;
    }

    public static Option<string> OtlpProtocol()
    {
        var option = new Option<string>("--otlp-protocol")
        {
            Description = "With --otlp-endpoint: grpc or http/protobuf.",
            DefaultValueFactory = _ => "grpc",
        };
        option.AcceptOnlyFromAmong("grpc", "http/protobuf");
        return option;
    }

    /// <summary>The three options, for a command's list.</summary>
    public static (Option<int?> MetricsPort, Option<string?> OtlpEndpoint, Option<string> OtlpProtocol) Options() =>
        (MetricsPort(), OtlpEndpoint(), OtlpProtocol());

    /// <summary>Starts exporting as <paramref name="parse"/> asks; null when it asks for neither.
    /// Dispose to stop (a last OTLP export is flushed).</summary>
    /// <exception cref="InvalidOperationException">The metrics port cannot be listened on; the message says why.</exception>
    public static MeterProvider? Start(
        ParseResult parse, (Option<int?> MetricsPort, Option<string?> OtlpEndpoint, Option<string> OtlpProtocol) options, string host, string service)
    {
        int? port = parse.GetValue(options.MetricsPort);
        string? otlp = parse.GetValue(options.OtlpEndpoint);
        if (port is null && otlp is null)
        {
            return null;
        }

        MeterProviderBuilder builder = Sdk.CreateMeterProviderBuilder()
            .ConfigureResource(resource => resource.AddService(service, serviceVersion: typeof(Telemetry).Assembly.GetName().Version?.ToString(3)))
            .AddMeter(Meters);
        if (port is { } metricsPort)
        {
            if (ListenHost(host).StartsWith('['))
            {
                throw new InvalidOperationException($"cannot serve metrics on [{host}]:{metricsPort} (--metrics-port): the HTTP listener cannot bind one IPv6 address; listen on :: (every interface) or an IPv4 address");
            }

            string prefix = $"http://{ListenHost(host)}:{metricsPort}/metrics/";
            builder.AddPrometheusHttpListener(listener =>
            {
                listener.Port = metricsPort;
                listener.ScrapeEndpointPath = "/metrics";

                // HttpListener's own notation, which the exporter's Host (a URI host) cannot say:
                // + for every interface and any Host header, [::1] for an IPv6 address.
                listener.ConfigureHttpListener = (_, http) =>
                {
                    http.Prefixes.Clear();
                    http.Prefixes.Add(prefix);
                };
            });
        }

        if (otlp is not null)
        {
            bool http = parse.GetValue(options.OtlpProtocol) == "http/protobuf";
            var endpoint = new Uri(otlp);
            if (http && endpoint.AbsolutePath == "/")
            {
                endpoint = new Uri(endpoint, "v1/metrics"); // the collector's metrics path, as OTEL_EXPORTER_OTLP_ENDPOINT does
            }

            builder.AddOtlpExporter((exporter, _) =>
            {
                exporter.Endpoint = endpoint;
                exporter.Protocol = http ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
            });
        }

        try
        {
            return builder.Build();
        }
        catch (InvalidOperationException ex)
        {
            string why = ex.InnerException is { } inner ? inner.Message : ex.Message;
            throw new InvalidOperationException($"cannot serve metrics on {(port is null ? "" : $"{host}:{port}")} (--metrics-port): {why}", ex);
        }
    }

    /// <summary>Where the Prometheus listener binds for a <c>--host</c> value, in HttpListener's
    /// notation: <c>+</c> for every interface (any Host header), <c>[::1]</c> for IPv6. Bound to one
    /// address, HttpListener answers only requests whose Host header names that address.</summary>
    public static string ListenHost(string host)
    {
        if (!CommonOptions.TryParseHost(host, out IPAddress? address))
        {
            return host;
        }

        if (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))
        {
            return "+";
        }

        return address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();
    }

    /// <summary>Logs where metrics go (the URLs), once at start.</summary>
    public static void LogStarted(ILogger logger, ParseResult parse, (Option<int?> MetricsPort, Option<string?> OtlpEndpoint, Option<string> OtlpProtocol) options, string host)
    {
        if (parse.GetValue(options.MetricsPort) is { } port)
        {
            string listen = ListenHost(host);
            Log.Prometheus(logger, $"http://{(listen == "+" ? "0.0.0.0" : listen)}:{port}/metrics");
        }

        if (parse.GetValue(options.OtlpEndpoint) is { } otlp)
        {
            Log.Otlp(logger, CommandSettings.MaskUrlCredentials(otlp), parse.GetValue(options.OtlpProtocol)!);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(40, LogLevel.Information, "metrics for Prometheus at {Url}")]
        public static partial void Prometheus(ILogger logger, string url);

        [LoggerMessage(41, LogLevel.Information, "metrics pushed over OTLP ({Protocol}) to {Endpoint}")]
        public static partial void Otlp(ILogger logger, string endpoint, string protocol);
    }
}
