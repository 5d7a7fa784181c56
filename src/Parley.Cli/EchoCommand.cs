using System.CommandLine;
using System.Net;
using Microsoft.Extensions.Logging;

namespace Parley.Cli;

/// <summary><c>parley echo</c>: sends every message back to its sender.</summary>
internal static partial class EchoCommand
{
    public static Command Create()
    {
        Option<string> host = CommonOptions.Host();
        Option<int> port = CommonOptions.Port(7000);
        Option<string> framing = CommonOptions.Framing();
        Option<int?> maxMessageSize = CommonOptions.MaxMessageSize();
        Option<double> idleTimeout = CommonOptions.IdleTimeout();
        Option<int> maxConnections = CommonOptions.MaxConnections();
        Option<int> maxPerAddress = CommonOptions.MaxConnectionsPerAddress();
        maxPerAddress.Description += " With --transport udp: sessions accepted from one address (default 32, refused with AddressLimit past it).";
        Option<bool> sharePort = CommonOptions.SharePort();
        Option<int> handshakesPerAddress = CommonOptions.MaxHandshakesPerAddress();
        Option<LogLevel> logLevel = CommonOptions.LogLevel();
        Option<string> logFormat = CommonOptions.LogFormat();
        var telemetry = Telemetry.Options();
        Option<double> summaryInterval = CommonOptions.SummaryInterval();
        var mode = new Option<string>("--mode")
        {
            Description = "echo: every message goes back to its sender. broadcast: every message goes to every connected client (sender included).",
            DefaultValueFactory = _ => "echo",
        };
        mode.AcceptOnlyFromAmong("echo", "broadcast");
        (Option<string?> tlsCert, Option<string?> tlsKey, Option<string?> tlsPassword) = CommonOptions.ServerTls();
        Option<string?> compress = CompressOption();
        var transport = new Option<string>("--transport")
        {
            Description = "tcp: framed TCP (Miku-compatible). ws: WebSocket (binary messages; upgrade at any path of --host/--port, wss:// with --tls-cert). udp: Parley's reliable UDP protocol (messages come back on the channel and in the delivery mode they came in). ipc: shared memory between processes on this machine, listening on --name (same framing as TCP).",
            DefaultValueFactory = _ => "tcp",
        };
        transport.AcceptOnlyFromAmong("tcp", "ws", "udp", "ipc");
        Option<string> ipcName = CommonOptions.IpcName("echo", "--transport ipc: the name clients connect to.");

        var command = new Command("echo", "Run an echo server: every message received is sent back to its sender. Stop with Ctrl-C.")
        {
            host, port, transport, ipcName, framing, mode, maxMessageSize, idleTimeout, maxConnections, maxPerAddress, handshakesPerAddress, sharePort, tlsCert, tlsKey, tlsPassword, compress, logLevel, logFormat, summaryInterval, telemetry.MetricsPort, telemetry.OtlpEndpoint, telemetry.OtlpProtocol,
        };
        command.WithSettings(tlsPassword);
        command.SetAction(async (parse, cancellationToken) =>
        {
            // Return the task to System.CommandLine before starting: a SIGTERM that arrives before it
            // has the task is not waited for (exit 143 in the middle of the graceful stop).
            await Task.Yield();
            string framingName = parse.GetValue(framing)!;
            TlsServerOptions? tls;
            try
            {
                tls = CommonOptions.LoadServerTls(parse.GetValue(tlsCert), parse.GetValue(tlsKey), parse.GetValue(tlsPassword));
                if (tls is not null)
                {
                    tls.MaxHandshakesPerAddress = parse.GetValue(handshakesPerAddress);
                }
            }
            catch (ArgumentException ex)
            {
                await Console.Error.WriteLineAsync($"parley echo: {ex.Message}");
                return 2;
            }

            double idle = parse.GetResult(idleTimeout) is { Implicit: false } ? parse.GetValue(idleTimeout) : (framingName == "length" ? 30 : 300);
            var settings = new EchoSettings(
                new IPEndPoint(CommonOptions.ParseHost(parse.GetValue(host)!), parse.GetValue(port)),
                framingName,
                parse.GetValue(mode) == "broadcast",
                parse.GetValue(maxMessageSize),
                TimeSpan.FromSeconds(idle),
                parse.GetValue(maxConnections),
                TimeSpan.FromSeconds(parse.GetValue(summaryInterval)))
            {
                Tls = tls,
                Compression = parse.GetValue(compress) is { } codec ? Compression(codec) : null,
                IpcName = parse.GetValue(transport) == "ipc" ? parse.GetValue(ipcName) : null,
                MaxConnectionsPerAddress = parse.GetValue(maxPerAddress),
                UdpSessionsPerAddress = parse.GetResult(maxPerAddress) is { Implicit: false } ? parse.GetValue(maxPerAddress) : null,
                SharePort = parse.GetValue(sharePort),
                WebSocket = parse.GetValue(transport) == "ws",
                JsonLogs = parse.GetValue(logFormat) == "json",
            };
            if (settings.WebSocket && (settings.Compression is not null || framingName != "length"))
            {
                await Console.Error.WriteLineAsync("parley echo: --transport ws takes no --compress or --framing (WebSocket frames its own messages).");
                return 2;
            }
            if (settings.IpcName is not null && tls is not null)
            {
                await Console.Error.WriteLineAsync("parley echo: --transport ipc takes no --tls-cert (shared memory never leaves the machine).");
                return 2;
            }

            using ILoggerFactory loggers = CommonOptions.CreateLoggerFactory(parse.GetValue(logLevel), parse.GetValue(logFormat)!);
            if (parse.GetValue(telemetry.MetricsPort) is { } metricsPort && metricsPort == parse.GetValue(port))
            {
                await Console.Error.WriteLineAsync($"parley echo: --metrics-port {metricsPort} is also --port: give metrics a port of their own.");
                return 2;
            }

            if (!ServeCommand.TryStartTelemetry(parse, telemetry, parse.GetValue(host)!, "parley-echo", loggers, out OpenTelemetry.Metrics.MeterProvider? metrics))
            {
                return 2;
            }

            using OpenTelemetry.Metrics.MeterProvider? exporting = metrics;
            if (parse.GetValue(transport) == "udp")
            {
                if (tls is not null || settings.Compression is not null || framingName != "length")
                {
                    await Console.Error.WriteLineAsync("parley echo: --transport udp takes no --tls-cert, --compress or --framing (the protocol frames its own messages).");
                    return 2;
                }

                return await RunUdpAsync(settings, loggers, Console.Out, cancellationToken);
            }

            return await RunAsync(settings, loggers, Console.Out, cancellationToken);
        });
        return command;
    }

    public static async Task<int> RunAsync(EchoSettings settings, ILoggerFactory loggers, TextWriter output, CancellationToken cancellationToken)
    {
        ILogger logger = loggers.CreateLogger("parley.echo");
        var webSocket = new Parley.WebSockets.WebSocketOptions
        {
            MaxMessageSize = settings.MaxMessageSize ?? LengthPrefixedFramer.DefaultMaxMessageSize,
            MessageType = Parley.WebSockets.WebSocketMessageType.Binary,
            MaxPendingConnections = 4096,
        };
        var options = new ParleyServerOptions
        {
            EndPoint = settings.EndPoint,
            Framer = settings.WebSocket ? webSocket.CreateFramer() : CommonOptions.CreateFramer(settings.Framing, settings.MaxMessageSize),
            IdleTimeout = settings.IdleTimeout,
            MaxConnections = settings.MaxConnections,
            MaxConnectionsPerAddress = settings.MaxConnectionsPerAddress,
            SharePort = settings.SharePort,
            Tls = settings.Tls,
            Middleware = settings.Compression is { } compression ? [compression] : [],
            LoggerFactory = loggers,
        };
        if (settings.IpcName is { } name)
        {
#pragma warning disable CA2000 // The server owns its listeners and disposes them when it stops.
            options.Listen(new Parley.Ipc.IpcConnectionListener(name));
#pragma warning restore CA2000
        }

        Parley.Http.HttpServer? http = null;
        if (settings.WebSocket)
        {
            // WebSocket: an HTTP server takes the upgrades (at any path) and hands them to the Parley server.
#pragma warning disable CA2000 // The servers own their listeners and dispose them when they stop.
            var upgrades = new Parley.WebSockets.WebSocketListener(webSocket, "/", loggers);
            options.Listen(upgrades);
            var httpOptions = new Parley.Http.HttpServerOptions { MaxConnections = settings.MaxConnections + 256, Fallback = upgrades.Handler, LoggerFactory = loggers };
            ConnectionListener socket = new SocketConnectionListener(settings.EndPoint, new SocketTransportOptions { ListenBacklog = 4096, SharePort = settings.SharePort });
            httpOptions.Listen(settings.Tls is { } tls ? new TlsConnectionListener(socket, tls, loggers) : socket);
            options.Tls = null;
            http = new Parley.Http.HttpServer(httpOptions);
#pragma warning restore CA2000
        }

        await using Parley.Http.HttpServer? ownedHttp = http;
        await using var server = new ParleyServer(options);
        server.Connected += connection => LogOpened(logger, connection.Id, connection.RemoteEndPoint);
        server.Disconnected += connection => LogClosed(
            logger, connection.Id, connection.RemoteEndPoint, connection.CloseReason, connection.MessagesReceived, connection.MessagesSent);
        if (settings.Broadcast)
        {
            server.MessageReceived += (_, message) => server.Broadcast(message);
        }
        else
        {
            server.MessageReceived += static (connection, message) => connection.Send(message);
        }

        // Every connection is a file descriptor: make room for MaxConnections of them.
        long limit = Bench.FileLimits.Raise(settings.MaxConnections + 256L);
        if (limit >= 0 && limit < settings.MaxConnections + 256L)
        {
            LogFileLimit(logger, limit, settings.MaxConnections);
        }

        try
        {
            server.Start();
            if (http is not null)
            {
                await http.StartAsync(cancellationToken);
            }
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or Parley.Ipc.IpcException)
        {
            LogBindFailed(logger, settings.IpcName is { } ipcName ? $"ipc:{ipcName}" : settings.EndPoint.ToString(), ex.Message);
            return 2;
        }

        string address = http is not null ? http.EndPoints[0]!.ToString()! : settings.IpcName is null ? server.LocalEndPoint.ToString() : server.Listeners[0].Address;
        await CommonOptions.AnnounceAsync(output, logger, settings.JsonLogs, $"parley echo listening on {address} ({(settings.Tls is null ? "" : "TLS, ")}{(settings.Compression is null ? "" : $"compression: {settings.Compression.Codec.ToString().ToLowerInvariant()}, ")}framing: {(settings.WebSocket ? "websocket" : settings.Framing)}, mode: {(settings.Broadcast ? "broadcast" : "echo")}); Ctrl-C stops.");
        ServiceManager.Ready();

        using var summary = new MetricsSummary();
        await summary.LogUntilStoppedAsync(logger, () => server.ConnectionCount, settings.SummaryInterval, cancellationToken);

        ServiceManager.Stopping();
        LogStopping(logger, server.ConnectionCount);
        if (http is not null)
        {
            await http.StopAsync(CancellationToken.None);
        }

        await server.StopAsync(CancellationToken.None);
        summary.Log(logger, server.ConnectionCount);
        LogStopped(logger);
        return 0;
    }

    internal static Option<string?> CompressOption()
    {
        var option = new Option<string?>("--compress")
        {
            Description = "Compress message payloads (zlib or brotli; one header byte per message, payloads under 256 B stored): changes the payload format, so clients must use the same.",
        };
        option.AcceptOnlyFromAmong("zlib", "brotli");
        return option;
    }

    internal static CompressionMiddleware Compression(string codec) =>
        new(codec == "brotli" ? CompressionCodec.Brotli : CompressionCodec.Zlib);

    [LoggerMessage(1, LogLevel.Information, "open #{ConnectionId} {RemoteEndPoint}")]
    private static partial void LogOpened(ILogger logger, long connectionId, EndPoint? remoteEndPoint);

    [LoggerMessage(2, LogLevel.Information, "close #{ConnectionId} {RemoteEndPoint} reason={Reason} messages in={MessagesIn} out={MessagesOut}")]
    private static partial void LogClosed(ILogger logger, long connectionId, EndPoint? remoteEndPoint, CloseReason reason, long messagesIn, long messagesOut);

    [LoggerMessage(3, LogLevel.Error, "cannot listen on {EndPoint}: {Error}")]
    private static partial void LogBindFailed(ILogger logger, string endPoint, string error);

    [LoggerMessage(4, LogLevel.Information, "stopping: closing {Count} connections")]
    private static partial void LogStopping(ILogger logger, int count);

    [LoggerMessage(6, LogLevel.Warning, "open-files limit is {Limit}: fewer than the {MaxConnections} connections allowed can be accepted")]
    private static partial void LogFileLimit(ILogger logger, long limit, int maxConnections);

    [LoggerMessage(5, LogLevel.Information, "stopped")]
    private static partial void LogStopped(ILogger logger);
}

/// <summary>What <c>parley echo</c> was asked to do.</summary>
internal sealed record EchoSettings(
    IPEndPoint EndPoint,
    string Framing,
    bool Broadcast,
    int? MaxMessageSize,
    TimeSpan IdleTimeout,
    int MaxConnections,
    TimeSpan SummaryInterval)
{
    /// <summary>TLS, when <c>--tls-cert</c> was given.</summary>
    public TlsServerOptions? Tls { get; init; }

    /// <summary>Most connections from one address.</summary>
    public int MaxConnectionsPerAddress { get; init; } = 256;

    /// <summary><c>--transport udp</c>: sessions accepted from one address when <c>--max-connections-per-address</c> was given; otherwise the UDP host's default (<see cref="Parley.Udp.UdpHostOptions.MaxPeersPerAddress"/>).</summary>
    public int? UdpSessionsPerAddress { get; init; }

    /// <summary>Take WebSocket upgrades on the address (binary messages) instead of framed TCP.</summary>
    public bool WebSocket { get; init; }

    /// <summary>Listen with SO_REUSEPORT.</summary>
    public bool SharePort { get; init; }

    /// <summary>The shared-memory name, for <c>--transport ipc</c>.</summary>
    public string? IpcName { get; init; }

    /// <summary>Payload compression, when <c>--compress</c> was given.</summary>
    public CompressionMiddleware? Compression { get; init; }

    /// <summary>One JSON object per log line (<c>--log-format json</c>): the start line is logged too.</summary>
    public bool JsonLogs { get; init; }
}
