using System.Text.Json;
using System.CommandLine;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging;
using Parley.Http;

namespace Parley.Cli;

/// <summary><c>parley http</c>: serves a folder over HTTP/1.1.</summary>
internal static partial class HttpCommand
{
    public static Command Create()
    {
        Option<string> host = CommonOptions.Host();
        Option<int> port = CommonOptions.Port(8081);
        var root = new Option<string>("--root")
        {
            Description = "The folder to serve (default: the current folder). Nothing outside it is served, not even through a symbolic link.",
            DefaultValueFactory = _ => ".",
        };
        var index = new Option<string>("--index")
        {
            Description = "The file a folder's URL serves.",
            DefaultValueFactory = _ => "index.html",
        };
        var maxConnections = new Option<int>("--max-connections")
        {
            Description = "Most connections open at once (1 to 1000000); one more is closed when accepted.",
            DefaultValueFactory = _ => 16_384,
        }.Range(1, 1_000_000, "");
        var headTimeout = new Option<double>("--request-timeout")
        {
            Description = "Seconds from a request's first byte to its complete head; past it, 408 and the connection closes.",
            DefaultValueFactory = _ => 20,
        }.Positive(86_400, "seconds");
        var keepAliveTimeout = new Option<double>("--keepalive-timeout")
        {
            Description = "Seconds an idle keep-alive connection stays open.",
            DefaultValueFactory = _ => 75,
        }.Positive(86_400, "seconds");
        var maxCachedFile = new Option<int>("--max-cached-file-kb")
        {
            Description = "Files up to this many KiB are kept in memory; larger ones are sent from disk with sendfile (0 to 1048576).",
            DefaultValueFactory = _ => 64,
        }.Range(0, 1024 * 1024, "");
        var cacheSize = new Option<int>("--cache-mb")
        {
            Description = "Most MiB of file content kept in memory (0 to 1048576).",
            DefaultValueFactory = _ => 64,
        }.Range(0, 1024 * 1024, "");
        var maxRequestLine = new Option<int>("--max-request-line")
        {
            Description = "Longest request line in bytes (64 to 1048576); past it, 414.",
            DefaultValueFactory = _ => 8 * 1024,
        }.Range(64, 1024 * 1024, "bytes");
        var maxHead = new Option<int>("--max-head-kb")
        {
            Description = "Longest request head in KiB (1 to 1024, at least the request line); past it, 431.",
            DefaultValueFactory = _ => 32,
        }.Range(1, 1024, "KiB");
        var maxHeaders = new Option<int>("--max-headers")
        {
            Description = "Most header fields in a request (1 to 10000); past it, 431.",
            DefaultValueFactory = _ => 100,
        }.Range(1, 10_000, "");
        var maxBody = new Option<int>("--max-body-kb")
        {
            Description = "Largest request body in KiB, read and dropped (0 to 1048576); past it, 413.",
            DefaultValueFactory = _ => 1024,
        }.Range(0, 1024 * 1024, "KiB");
        var accessLog = new Option<bool>("--access-log")
        {
            Description = "Print a line per response (peer, request line, status, body bytes) on standard output. Off by default: it costs time on every request.",
        };
        Option<LogLevel> logLevel = CommonOptions.LogLevel();
        Option<string> logFormat = CommonOptions.LogFormat();
        var telemetry = Telemetry.Options();

        var command = new Command("http", "Serve a folder over HTTP/1.1 (GET, HEAD, keep-alive, pipelining, ranges, conditional and precompressed responses). Stop with Ctrl-C.")
        {
            root, host, port, index, maxConnections, headTimeout, keepAliveTimeout, maxRequestLine, maxHead, maxHeaders, maxBody, maxCachedFile, cacheSize, accessLog, logLevel, logFormat, telemetry.MetricsPort, telemetry.OtlpEndpoint, telemetry.OtlpProtocol,
        };
        command.WithSettings();
        command.SetAction(async (parse, cancellationToken) =>
        {
            // Return the task to System.CommandLine before starting: a SIGTERM that arrives before it
            // has the task is not waited for (exit 143 in the middle of the graceful stop).
            await Task.Yield();
            var settings = new HttpSettings(
                parse.GetValue(root)!,
                new IPEndPoint(CommonOptions.ParseHost(parse.GetValue(host)!), parse.GetValue(port)),
                parse.GetValue(index)!)
            {
                MaxConnections = parse.GetValue(maxConnections),
                RequestHeadTimeout = TimeSpan.FromSeconds(parse.GetValue(headTimeout)),
                KeepAliveTimeout = TimeSpan.FromSeconds(parse.GetValue(keepAliveTimeout)),
                MaxCachedFileSize = parse.GetValue(maxCachedFile) * 1024,
                MaxCacheSize = parse.GetValue(cacheSize) * 1024L * 1024,
                AccessLog = parse.GetValue(accessLog),
                MaxRequestLineLength = parse.GetValue(maxRequestLine),
                MaxHeadSize = parse.GetValue(maxHead) * 1024,
                MaxHeaderCount = parse.GetValue(maxHeaders),
                MaxRequestBodySize = parse.GetValue(maxBody) * 1024L,
                JsonLogs = parse.GetValue(logFormat) == "json",
            };
            if (settings.MaxHeadSize < settings.MaxRequestLineLength)
            {
                await Console.Error.WriteLineAsync($"parley http: --max-head-kb ({settings.MaxHeadSize / 1024} KiB) must hold at least --max-request-line ({settings.MaxRequestLineLength} bytes).");
                return 2;
            }

            using ILoggerFactory loggers = CommonOptions.CreateLoggerFactory(parse.GetValue(logLevel), parse.GetValue(logFormat)!);
            if (parse.GetValue(telemetry.MetricsPort) is { } metricsPort && metricsPort == parse.GetValue(port))
            {
                await Console.Error.WriteLineAsync($"parley http: --metrics-port {metricsPort} is also --port: give metrics a port of their own.");
                return 2;
            }

            if (!ServeCommand.TryStartTelemetry(parse, telemetry, parse.GetValue(host)!, "parley-http", loggers, out OpenTelemetry.Metrics.MeterProvider? metrics))
            {
                return 2;
            }

            using OpenTelemetry.Metrics.MeterProvider? exporting = metrics;
            return await RunAsync(settings, loggers, Console.Out, Console.Error, cancellationToken);
        });
        return command;
    }

    public static async Task<int> RunAsync(HttpSettings settings, ILoggerFactory loggers, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        ILogger logger = loggers.CreateLogger("parley.http");
        StaticFileHandler files;
        try
        {
#pragma warning disable CA2000 // disposed by the using below, once it exists
            files = new StaticFileHandler(new StaticFileOptions
            {
                Root = settings.Root,
                IndexFile = settings.IndexFile,
                MaxCachedFileSize = settings.MaxCachedFileSize,
                MaxCacheSize = settings.MaxCacheSize,
            });
#pragma warning restore CA2000
        }
        catch (Exception ex) when (ex is DirectoryNotFoundException or ArgumentException)
        {
            await error.WriteLineAsync($"parley http: {ex.Message}");
            return 2;
        }

        using (files)
        {
            var options = new HttpServerOptions
            {
                Fallback = files,
                MaxConnections = settings.MaxConnections,
                RequestHeadTimeout = settings.RequestHeadTimeout,
                KeepAliveTimeout = settings.KeepAliveTimeout,
                MaxRequestLineLength = settings.MaxRequestLineLength,
                MaxHeadSize = settings.MaxHeadSize,
                MaxHeaderCount = settings.MaxHeaderCount,
                MaxRequestBodySize = settings.MaxRequestBodySize,
                LoggerFactory = loggers,
            };
            if (settings.AccessLog)
            {
                var log = new AccessLogWriter(output, settings.JsonLogs);
                options.AccessLog = log.Write;
            }

#pragma warning disable CA2000 // The server owns its listener and disposes it when it stops.
            options.Listen(new SocketConnectionListener(settings.EndPoint));
#pragma warning restore CA2000
            await using var server = new HttpServer(options);
            long limit = Bench.FileLimits.Raise(settings.MaxConnections + 256L);
            if (limit >= 0 && limit < settings.MaxConnections + 256L)
            {
                LogFileLimit(logger, limit, settings.MaxConnections);
            }

            try
            {
                await server.StartAsync(cancellationToken);
            }
            catch (System.Net.Sockets.SocketException ex)
            {
                LogBindFailed(logger, settings.EndPoint.ToString(), ex.Message);
                return 2;
            }

            string address = FormatEndPoint(server.EndPoints[0]);
            await CommonOptions.AnnounceAsync(output, logger, settings.JsonLogs, $"parley http listening on {address}, serving {files.Root} at http://{address}/ ; Ctrl-C stops.");
            ServiceManager.Ready();
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                // Ctrl-C or SIGTERM: stop below.
            }

            ServiceManager.Stopping();
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await server.StopAsync(grace.Token);
            LogStopped(logger);
            return 0;
        }
    }

    /// <summary>An address as a URL's authority: <c>127.0.0.1:8081</c>, <c>[::1]:8081</c>.</summary>
    internal static string FormatEndPoint(EndPoint? endPoint) => endPoint switch
    {
        IPEndPoint { Address.AddressFamily: System.Net.Sockets.AddressFamily.InterNetworkV6 } ip => $"[{ip.Address}]:{ip.Port}",
        IPEndPoint ip => $"{ip.Address}:{ip.Port}",
        _ => endPoint?.ToString() ?? "?",
    };

    [LoggerMessage(1, LogLevel.Error, "cannot listen on {EndPoint}: {Error}")]
    private static partial void LogBindFailed(ILogger logger, string endPoint, string error);

    [LoggerMessage(2, LogLevel.Warning, "open-files limit is {Limit}: fewer than the {MaxConnections} connections allowed can be accepted")]
    private static partial void LogFileLimit(ILogger logger, long limit, int maxConnections);

    [LoggerMessage(3, LogLevel.Information, "stopped")]
    private static partial void LogStopped(ILogger logger);

    /// <summary>Access log lines, written under a lock (responses finish on many threads).</summary>
    /// <summary>With <c>--log-format json</c> each line is a JSON object, as the log's are.</summary>
    private sealed class AccessLogWriter(TextWriter output, bool json)
    {
        private readonly Lock _lock = new();

        public void Write(HttpAccessLogEntry entry)
        {
            string version = entry.Version == HttpProtocolVersion.Http10 ? "1.0" : "1.1";
            string line = json
                ? string.Create(CultureInfo.InvariantCulture,
                    $"{{\"Timestamp\":\"{DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ}\",\"Category\":\"parley.http.access\",\"Remote\":\"{(entry.RemoteEndPoint as IPEndPoint)?.Address}\",\"Method\":\"{JsonEncodedText.Encode(entry.Method.ToString())}\",\"Target\":\"{JsonEncodedText.Encode(entry.Target)}\",\"Version\":\"{version}\",\"Status\":{entry.Status},\"Bytes\":{entry.BodyLength}}}")
                : string.Create(CultureInfo.InvariantCulture,
                    $"{DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ} {(entry.RemoteEndPoint as IPEndPoint)?.Address} \"{entry.Method} {entry.Target} HTTP/{version}\" {entry.Status} {entry.BodyLength}");
            lock (_lock)
            {
                output.WriteLine(line);
            }
        }
    }
}

/// <summary>What <c>parley http</c> was asked to do.</summary>
internal sealed record HttpSettings(string Root, IPEndPoint EndPoint, string IndexFile)
{
    public int MaxConnections { get; init; } = 16_384;

    public TimeSpan RequestHeadTimeout { get; init; } = TimeSpan.FromSeconds(20);

    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromSeconds(75);

    public int MaxCachedFileSize { get; init; } = 64 * 1024;

    public long MaxCacheSize { get; init; } = 64L * 1024 * 1024;

    public bool AccessLog { get; init; }

    public int MaxRequestLineLength { get; init; } = 8 * 1024;

    public int MaxHeadSize { get; init; } = 32 * 1024;

    public int MaxHeaderCount { get; init; } = 100;

    public long MaxRequestBodySize { get; init; } = 1024 * 1024;

    /// <summary>One JSON object per log line (<c>--log-format json</c>): the start line is logged too.</summary>
    public bool JsonLogs { get; init; }
}
