using System.CommandLine;
using System.Net;
using Microsoft.Extensions.Logging;
using Parley.Chat;
using Parley.Chat.Nats;
using Parley.Journal;

namespace Parley.Cli;

/// <summary><c>parley serve</c>: the chat server — rooms, users, durable history.</summary>
internal static partial class ServeCommand
{
    public static Command Create()
    {
        Option<string> host = CommonOptions.Host();
        Option<int> port = CommonOptions.Port(8080);
        var rooms = new Option<string?>("--rooms") { Description = "Rooms file: a JSON array of {\"name\", \"description\"} (rust-chat-server's format). Default: 24 built-in rooms." };
        var data = new Option<string>("--data") { Description = "Data folder: the message journal and the users file.", DefaultValueFactory = _ => "parley-data" };
        var auth = new Option<string>("--auth") { Description = "open: every connection gets a generated user at once. required: the first command must be login (users from 'parley users add').", DefaultValueFactory = _ => "open" };
        auth.AcceptOnlyFromAmong("open", "required");
        Option<string> durability = DurabilityOption();
        Option<int> maxMessage = new Option<int>("--max-message-bytes") { Description = "Longest message content in UTF-8 bytes (1 to 1048576); longer ones are refused (the connection stays open).", DefaultValueFactory = _ => 4096 }
            .Range(1, 1024 * 1024, "bytes");
        Option<int> historyKb = new Option<int>("--history-kb") { Description = "History kept in memory per room, in KiB (1 to 1048576), as a history reply sends it; the oldest go first. Older messages are read from the journal (see --journal-mb).", DefaultValueFactory = _ => 128 }
            .Range(1, 1024 * 1024, "KiB");
        Option<int> historyTotalMb = new Option<int>("--history-total-mb") { Description = "History kept in memory for all rooms together, in MiB (1 to 1048576); with many rooms each gets an equal share.", DefaultValueFactory = _ => 64 }
            .Range(1, 1024 * 1024, "MiB");
        Option<int> journalMb = new Option<int>("--journal-mb") { Description = "The journal's size at most, in MiB (1 to 1048576): written in segments of an eighth of it (64 MiB at most); when a new segment starts past it, the oldest are deleted and their messages leave history.", DefaultValueFactory = _ => 1024 }
            .Range(1, 1024 * 1024, "MiB");
        var acceptDamage = new Option<bool>("--accept-journal-damage") { Description = "Start even when the journal has lost messages that may have been acknowledged (a damaged record, a missing segment): keep what can be read and log the damage. Without it the server refuses to start and changes nothing; see 'parley journal verify' and 'repair'." };
        Option<int> maxConnections = CommonOptions.MaxConnections();
        Option<int> maxPerAddress = CommonOptions.MaxConnectionsPerAddress();
        Option<bool> sharePort = CommonOptions.SharePort();
        Option<int> handshakesPerAddress = CommonOptions.MaxHandshakesPerAddress();
        Option<double> loginTimeout = new Option<double>("--login-timeout") { Description = "Seconds (more than 0, at most 86400) a new connection has to log in (or, with --auth open, to send its first command) before it is closed.", DefaultValueFactory = _ => 30 }
            .Positive(CommonOptions.MaxSeconds, "seconds");
        Option<int> sendQueue = new Option<int>("--send-queue-kb") { Description = "Per-session send queue limit in KiB (1 to 1048576); a client that falls this far behind is disconnected as a slow consumer.", DefaultValueFactory = _ => 1024 }
            .Range(1, 1024 * 1024, "KiB");
        Option<int> backlog = new Option<int>("--backlog") { Description = "Listen backlog (1 to 1000000): connections the OS holds before they are accepted (capped by net.core.somaxconn). A burst of clients larger than this waits for SYN retries (1 s).", DefaultValueFactory = _ => 4096 }
            .Range(1, 1_000_000, "");
        Option<int> commandRate = new Option<int>("--max-commands-per-second") { Description = "Commands per second per connection (1 to 1000000); past it the connection is read more slowly.", DefaultValueFactory = _ => 1000 }
            .Range(1, 1_000_000, "");
        Option<LogLevel> logLevel = CommonOptions.LogLevel();
        Option<string> logFormat = CommonOptions.LogFormat();
        var telemetry = Telemetry.Options();
        Option<double> summaryInterval = CommonOptions.SummaryInterval();
        (Option<string?> tlsCert, Option<string?> tlsKey, Option<string?> tlsPassword) = CommonOptions.ServerTls();
        var transport = new Option<string>("--transport")
        {
            Description = "tcp: listen on --host/--port. ipc: shared memory for clients on this machine ('parley chat --transport ipc'), listening on --name; same protocol.",
            DefaultValueFactory = _ => "tcp",
        };
        transport.AcceptOnlyFromAmong("tcp", "ipc");
        Option<string> ipcName = CommonOptions.IpcName("chat", "--transport ipc: the name clients connect to.");
        var unix = new Option<string?>("--unix")
        {
            Description = "Also accept on a Unix-domain socket at this path (same protocol, never TLS; for local clients and reverse proxies: 'nc -U PATH'). A stale socket file left by a killed server is replaced; anything else at the path is an error.",
        };
        Option<int> webPort = new Option<int>("--web-port")
        {
            Description = "Port of the browser front door on --host: the chat page at /, WebSocket sessions at /ws (same protocol, one JSON object per text message). 0 turns it off.",
            DefaultValueFactory = _ => 8081,
        }.Range(0, IPEndPoint.MaxPort, "");
        var allowedOrigins = new Option<string[]>("--allowed-origin")
        {
            Description = "An origin (https://chat.example.com) whose pages may open /ws, besides the server's own page; repeat for more, * for any. Others get 403.",
            AllowMultipleArgumentsPerToken = false,
        };
        var cluster = new Option<string?>("--cluster")
        {
            Description = "Run as a node of a cluster sharing rooms through NATS JetStream: nats://host:port (several, comma-separated, for a NATS cluster). Messages are stored in the stream, not the local journal; see docs/scale-out.md.",
        };
        var clusterCreds = new Option<string?>("--cluster-creds") { Description = "With --cluster: a NATS credentials file (.creds) for a NATS server with accounts. A user and password may instead go in the URL (nats://user:pass@host:4222); logs show neither." };
        var nodeName = new Option<string?>("--node-name") { Description = "With --cluster: this node's name (letters, digits, - and _). Default: host name and process id." };
        var clusterStream = new Option<string>("--cluster-stream") { Description = "With --cluster: the JetStream stream shared by the nodes (created when missing).", DefaultValueFactory = _ => "PARLEY" };
        Option<int> clusterReplicas = new Option<int>("--cluster-replicas") { Description = "With --cluster: copies JetStream keeps of each message when this node creates the stream (1 to 5; 3 on a 3-server NATS cluster).", DefaultValueFactory = _ => 1 }
            .Range(1, 5, "--cluster-replicas");
        var command = new Command("serve", "Run the chat server (newline-delimited JSON; try it with nc). Stop with Ctrl-C.")
        {
            host, port, webPort, allowedOrigins, transport, ipcName, unix, rooms, data, auth, durability, acceptDamage, maxMessage, historyKb, historyTotalMb, journalMb, maxConnections, maxPerAddress, handshakesPerAddress, sharePort, loginTimeout, sendQueue, backlog, commandRate, tlsCert, tlsKey, tlsPassword, logLevel, logFormat, summaryInterval, telemetry.MetricsPort, telemetry.OtlpEndpoint, telemetry.OtlpProtocol, cluster, clusterCreds, nodeName, clusterStream, clusterReplicas,
        };
        command.WithSettings(tlsPassword);
        command.SetAction(async (parse, cancellationToken) =>
        {
            // Return the task to System.CommandLine before starting: a SIGTERM that arrives before it
            // has the task is not waited for (exit 143 in the middle of the graceful stop).
            await Task.Yield();
            using ILoggerFactory loggers = CommonOptions.CreateLoggerFactory(parse.GetValue(logLevel), parse.GetValue(logFormat)!);
            string? roomsPath = parse.GetValue(rooms);
            IReadOnlyList<RoomDefinition> roomList;
            try
            {
                roomList = roomsPath is null ? RoomsFile.Defaults : RoomsFile.Load(roomsPath);
            }
            catch (Exception ex) when (ex is RoomsFileException or ArgumentException)
            {
                await Console.Error.WriteLineAsync($"parley serve: {ex.Message}");
                return 2;
            }

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
                await Console.Error.WriteLineAsync($"parley serve: {ex.Message}");
                return 2;
            }

            string? ipc = parse.GetValue(transport) == "ipc" ? parse.GetValue(ipcName) : null;
            if (ipc is not null && tls is not null)
            {
                await Console.Error.WriteLineAsync("parley serve: --transport ipc takes no --tls-cert (shared memory never leaves the machine).");
                return 2;
            }

            var options = new ChatServerOptions
            {
                Rooms = roomList,
                DataDirectory = parse.GetValue(data)!,
                Auth = parse.GetValue(auth) == "required" ? AuthMode.Required : AuthMode.Open,
                Durability = ParseDurability(parse.GetValue(durability)!),
                MaxMessageBytes = parse.GetValue(maxMessage),
                HistoryBytesPerRoom = parse.GetValue(historyKb) * 1024L,
                AcceptJournalDamage = parse.GetValue(acceptDamage),
                MaxHistoryBytes = parse.GetValue(historyTotalMb) * 1024L * 1024,
                MaxJournalBytes = parse.GetValue(journalMb) * 1024L * 1024,
                MaxCommandsPerSecond = parse.GetValue(commandRate),
                LoginTimeout = TimeSpan.FromSeconds(parse.GetValue(loginTimeout)),
                LoggerFactory = loggers,
            };
            var settings = new ServeSettings(
                new IPEndPoint(CommonOptions.ParseHost(parse.GetValue(host)!), parse.GetValue(port)),
                parse.GetValue(maxConnections),
                SendQueueBytes(parse, sendQueue, options),
                parse.GetValue(backlog),
                tls,
                TimeSpan.FromSeconds(parse.GetValue(summaryInterval)))
            {
                IpcName = ipc,
                UnixPath = parse.GetValue(unix),
                MaxConnectionsPerAddress = parse.GetValue(maxPerAddress),
                SharePort = parse.GetValue(sharePort),
                WebPort = parse.GetValue(webPort),
                AllowedOrigins = parse.GetValue(allowedOrigins) ?? [],
                JsonLogs = parse.GetValue(logFormat) == "json",
            };
            if (parse.GetValue(cluster) is { } natsUrl)
            {
                var backplane = new NatsChatBackplaneOptions
                {
                    Url = natsUrl,
                    StreamName = parse.GetValue(clusterStream)!,
                    Replicas = parse.GetValue(clusterReplicas),
                    MaxStreamBytes = options.MaxJournalBytes,
                    CredentialsFile = parse.GetValue(clusterCreds),
                    LoggerFactory = loggers,
                };
                if (parse.GetValue(nodeName) is { } name)
                {
                    backplane.NodeName = name;
                }

                try
                {
                    backplane.Validate();
                }
                catch (ArgumentException ex)
                {
                    await Console.Error.WriteLineAsync($"parley serve: {ex.Message}");
                    return 2;
                }

                settings = settings with { Cluster = backplane };
            }

            if (parse.GetValue(telemetry.MetricsPort) is { } metricsPort && (metricsPort == parse.GetValue(port) || metricsPort == parse.GetValue(webPort)))
            {
                await Console.Error.WriteLineAsync($"parley serve: --metrics-port {metricsPort} is also {(metricsPort == parse.GetValue(port) ? "--port" : "--web-port")}: give metrics a port of their own.");
                return 2;
            }

            if (!TryStartTelemetry(parse, telemetry, parse.GetValue(host)!, "parley-serve", loggers, out OpenTelemetry.Metrics.MeterProvider? metrics))
            {
                return 2;
            }

            using OpenTelemetry.Metrics.MeterProvider? exporting = metrics;
            return await RunAsync(options, settings, loggers, Console.Out, cancellationToken);
        });
        return command;
    }

    /// <summary>Starts metrics export as asked (<paramref name="provider"/> null for none); false,
    /// logged, when the metrics port cannot be listened on.</summary>
    internal static bool TryStartTelemetry(
        ParseResult parse,
        (Option<int?> MetricsPort, Option<string?> OtlpEndpoint, Option<string> OtlpProtocol) telemetry,
        string host,
        string service,
        ILoggerFactory loggers,
        out OpenTelemetry.Metrics.MeterProvider? provider)
    {
        ILogger logger = loggers.CreateLogger("parley.metrics");
        try
        {
            provider = Telemetry.Start(parse, telemetry, host, service);
            Telemetry.LogStarted(logger, parse, telemetry, host);
            return true;
        }
        catch (InvalidOperationException ex)
        {
            LogBadSettings(logger, ex.Message);
            provider = null;
            return false;
        }
    }

    /// <summary>The send queue: at least two of the largest events (raised from the default when the
    /// message limit needs it; a smaller one asked for explicitly is an error, reported at start).</summary>
    private static long SendQueueBytes(ParseResult parse, Option<int> sendQueue, ChatServerOptions options)
    {
        long asked = parse.GetValue(sendQueue) * 1024L;
        return parse.GetResult(sendQueue) is { Implicit: false } ? asked : Math.Max(asked, options.MinSendQueueBytes);
    }

    internal static Option<string> DurabilityOption()
    {
        var option = new Option<string>("--durability")
        {
            Description = "When a message counts as stored (then acknowledged and delivered): always (fsync each batch), batch (fsync at least every 2 ms), none (written to the OS only).",
            DefaultValueFactory = _ => "batch",
        };
        option.AcceptOnlyFromAmong("always", "batch", "none");
        return option;
    }

    internal static JournalDurability ParseDurability(string value) => value switch
    {
        "always" => JournalDurability.Always,
        "none" => JournalDurability.None,
        _ => JournalDurability.Batch,
    };

    public static async Task<int> RunAsync(ChatServerOptions options, ServeSettings settings, ILoggerFactory loggers, TextWriter output, CancellationToken cancellationToken)
    {
        ILogger logger = loggers.CreateLogger("parley.serve");
        if (settings.SendQueueBytes < options.MinSendQueueBytes)
        {
            LogBadSettings(logger, $"--send-queue-kb {settings.SendQueueBytes / 1024} is too small for events of up to {options.MinSendQueueBytes / 2} bytes: a reply that large would make a client that keeps up a slow consumer; use at least {(options.MinSendQueueBytes + 1023) / 1024}");
            return 2;
        }

        using System.Runtime.InteropServices.PosixSignalRegistration? fileSizeSignal = FileSizeSignal.Handle(); // EFBIG, not death, past a file-size limit
        // The dashboard's figures, published to sessions that watch them (the page at /dashboard).
        ParleyServer? tcpServer = null;
        ChatWeb? webServer = null;
        ChatServer? chatServer = null;
        using var dashboard = new DashboardFeed(
            () => (settings.IpcName is null ? tcpServer?.ConnectionCount ?? 0 : 0, webServer?.SessionCount ?? 0, settings.IpcName is null ? 0 : tcpServer?.ConnectionCount ?? 0),
            () => chatServer?.SessionCount ?? 0);
        options.MetricsFeed ??= dashboard.Feed;
        if (settings.Cluster is { } cluster)
        {
            cluster.Addresses ??= $"tcp://{settings.EndPoint}" + (settings.WebPort == 0 ? "" : $" {(settings.Tls is null ? "http" : "https")}://{HttpCommand.FormatEndPoint(new IPEndPoint(settings.EndPoint.Address, settings.WebPort))}");
#pragma warning disable CA2000 // The chat server owns it once opened (and disposes it when opening fails).
            options.Backplane = new NatsChatBackplane(cluster);
#pragma warning restore CA2000
        }

        await using ChatServer? opened = await TryOpenAsync(options, logger, cancellationToken);
        if (opened is not { } chat)
        {
            return 2;
        }

        var serverOptions = new ParleyServerOptions
        {
            EndPoint = settings.EndPoint,
            Framer = chat.Framer,
            MaxConnections = settings.MaxConnections,
            MaxConnectionsPerAddress = settings.MaxConnectionsPerAddress,
            SharePort = settings.SharePort,
            RefusalMessage = ChatServer.RefusalEvent,
            ListenBacklog = settings.ListenBacklog,
            Tls = settings.Tls,
            MaxSendQueueBytes = settings.SendQueueBytes,
            SlowConsumerPolicy = SlowConsumerPolicy.Disconnect,

            // People on nc must not see keep-alive lines or be cut off while they read:
            // dead peers are found by the operating system's TCP keep-alive instead.
            IdleTimeout = Timeout.InfiniteTimeSpan,
            KeepAliveInterval = Timeout.InfiniteTimeSpan,
            TcpKeepAlive = true,
            LoggerFactory = loggers,
        };
#pragma warning disable CA2000 // The server owns its listeners and disposes them when it stops.
        if (settings.IpcName is { } name)
        {
            serverOptions.Listen(new Parley.Ipc.IpcConnectionListener(name));
        }
        else if (settings.UnixPath is not null)
        {
            // Several listeners: the TCP one is listed explicitly, with its TLS.
            serverOptions.Tls = null;
            serverOptions.Listen(
                new SocketConnectionListener(settings.EndPoint, new SocketTransportOptions
                {
                    NoDelay = serverOptions.NoDelay,
                    TcpKeepAlive = serverOptions.TcpKeepAlive,
                    ListenBacklog = settings.ListenBacklog,
                    SharePort = settings.SharePort,
                }),
                settings.Tls);
        }

        if (settings.UnixPath is { } path)
        {
            serverOptions.Listen(new SocketConnectionListener(new System.Net.Sockets.UnixDomainSocketEndPoint(path)));
        }
#pragma warning restore CA2000

        long limit = Bench.FileLimits.Raise(settings.MaxConnections + 256L);
        if (limit >= 0 && limit < settings.MaxConnections + 256L)
        {
            LogFileLimit(logger, limit, settings.MaxConnections);
        }

        await using var server = new ParleyServer(serverOptions);
        try
        {
            server.Start((connection, closed) => chat.RunSessionAsync(connection, closed));
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or Parley.Ipc.IpcException or ArgumentException)
        {
            string where = settings.IpcName is { } ipcName ? $"ipc:{ipcName}" : settings.EndPoint.ToString();
            LogBindFailed(logger, settings.UnixPath is { } unixPath ? $"{where} and unix:{unixPath}" : where, ex.Message);
            return 2;
        }

        ChatWeb? web = null;
        if (settings.WebPort != 0)
        {
            var webEndPoint = new IPEndPoint(settings.EndPoint.Address, settings.WebPort);
            try
            {
#pragma warning disable CA2000 // Disposed by the await using below.
                web = await ChatWeb.StartAsync(
                    chat,
                    new ChatWebSettings(webEndPoint, settings.MaxConnections, settings.MaxConnectionsPerAddress, settings.SendQueueBytes)
                    {
                        AllowedOrigins = settings.AllowedOrigins,
                        Tls = settings.Tls,
                        Peers = options.Backplane is NatsChatBackplane backplane ? () => PeerOrigins(backplane) : null,
                        FormerPeers = options.Backplane is NatsChatBackplane heard ? origin => heard.AddressesHeard.ContainsKey(origin) : null,
                    },
                    loggers,
                    cancellationToken);
#pragma warning restore CA2000
            }
            catch (System.Net.Sockets.SocketException ex)
            {
                LogBindFailed(logger, $"{webEndPoint} (--web-port; 0 turns the browser front door off)", ex.Message);
                await server.StopAsync(CancellationToken.None);
                return 2;
            }
        }

        await using ChatWeb? ownedWeb = web;
        (tcpServer, webServer, chatServer) = (server, web, chat);
        dashboard.Start();
        await CommonOptions.AnnounceAsync(output, logger, settings.JsonLogs,
            $"parley serve listening on {(settings.IpcName is null ? server.LocalEndPoint.ToString() : server.Listeners[0].Address)}{(settings.UnixPath is null ? "" : $" and {server.Listeners[^1].Address}")} ({(settings.Tls is null ? "" : "TLS, ")}{options.Rooms.Count} rooms, auth: {options.Auth.ToString().ToLowerInvariant()}, " +
            (settings.Cluster is { } joined
                ? $"cluster: {joined.DisplayUrl} as node {joined.NodeName}, stream {joined.StreamName}, users: {Path.GetFullPath(options.DataDirectory)}, last message id: {chat.LastMessageId})"
                : $"durability: {options.Durability.ToString().ToLowerInvariant()}, data: {Path.GetFullPath(options.DataDirectory)}, last message id: {chat.LastMessageId})") +
            $"{(web is null ? "" : $"; chat page at {ChatWebSettings.Describe(web.EndPoint, settings.Tls is not null)}")}; Ctrl-C stops.");
        ServiceManager.Ready(); // systemd Type=notify: started

        using var summary = new MetricsSummary(() => chat.HistoryBytes);
        using var trim = new IdleMemoryTrim();
        await summary.LogUntilStoppedAsync(logger, () => server.ConnectionCount, settings.SummaryInterval, cancellationToken);

        ServiceManager.Stopping();
        LogStopping(logger, server.ConnectionCount + (web?.SessionCount ?? 0));
        Task webStopped = web?.StopAsync() ?? Task.CompletedTask;
        await server.StopAsync(CancellationToken.None);
        await webStopped;
        await chat.DisposeAsync(); // everything accepted is in the journal before "stopped"
        LogStopped(logger);
        return 0;
    }

    /// <summary>The other nodes' page origins now, from their heartbeats' addresses (<c>http(s)://host:port</c>).</summary>
    private static string[] PeerOrigins(NatsChatBackplane backplane) =>
        [
            .. backplane.RemoteNodes
                .SelectMany(node => (node.Addresses ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Where(address => address.StartsWith("http://", StringComparison.Ordinal) || address.StartsWith("https://", StringComparison.Ordinal))
                .Distinct(StringComparer.Ordinal),
        ];

    private static async Task<ChatServer?> TryOpenAsync(ChatServerOptions options, ILogger logger, CancellationToken cancellationToken)
    {
        try
        {
#pragma warning disable CA2000 // Returned to the caller, which disposes it.
            return options.Backplane is null ? ChatServer.Open(options) : await ChatServer.OpenAsync(options, cancellationToken);
#pragma warning restore CA2000
        }
        catch (ChatBackplaneUnavailableException ex)
        {
            LogClusterUnavailable(logger, ex.Message);
            return null;
        }
        catch (ArgumentException ex)
        {
            LogBadSettings(logger, ex.Message);
            return null;
        }
        catch (Parley.Journal.JournalDamagedException ex)
        {
            LogJournalDamaged(logger, ex.Message, options.DataDirectory);
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            LogOpenFailed(logger, options.DataDirectory, ex.Message);
            return null;
        }
    }

    [LoggerMessage(27, LogLevel.Error, "cannot join the cluster: {Error}")]
    private static partial void LogClusterUnavailable(ILogger logger, string error);

    [LoggerMessage(20, LogLevel.Error, "cannot open the data folder {DataDirectory}: {Error}")]
    private static partial void LogOpenFailed(ILogger logger, string dataDirectory, string error);

    [LoggerMessage(26, LogLevel.Error, "cannot start: {Error}\nNothing was changed. Look with 'parley journal verify --data {DataDirectory}'; rewrite what survives with 'parley journal repair --data {DataDirectory}' (the original is kept), or start anyway with --accept-journal-damage.")]
    private static partial void LogJournalDamaged(ILogger logger, string error, string dataDirectory);

    [LoggerMessage(25, LogLevel.Error, "cannot start: {Error}")]
    private static partial void LogBadSettings(ILogger logger, string error);

    [LoggerMessage(21, LogLevel.Error, "cannot listen on {Address}: {Error}")]
    private static partial void LogBindFailed(ILogger logger, string address, string error);

    [LoggerMessage(22, LogLevel.Information, "stopping: closing {Count} sessions")]
    private static partial void LogStopping(ILogger logger, int count);

    [LoggerMessage(23, LogLevel.Information, "stopped; journal closed")]
    private static partial void LogStopped(ILogger logger);

    [LoggerMessage(24, LogLevel.Warning, "open-files limit is {Limit}: fewer than the {MaxConnections} connections allowed can be accepted")]
    private static partial void LogFileLimit(ILogger logger, long limit, int maxConnections);
}

/// <summary>The network side of <c>parley serve</c>.</summary>
internal sealed record ServeSettings(IPEndPoint EndPoint, int MaxConnections, long SendQueueBytes, int ListenBacklog, TlsServerOptions? Tls, TimeSpan SummaryInterval)
{
    /// <summary>Listen on this shared-memory name instead of <see cref="EndPoint"/>.</summary>
    public string? IpcName { get; init; }

    /// <summary>Also listen on a Unix-domain socket at this path.</summary>
    public string? UnixPath { get; init; }

    /// <summary>Most connections from one address.</summary>
    public int MaxConnectionsPerAddress { get; init; } = 256;

    /// <summary>Listen with SO_REUSEPORT.</summary>
    public bool SharePort { get; init; }

    /// <summary>The browser front door's port on the same address; 0 for none.</summary>
    public int WebPort { get; init; }

    /// <summary>Other origins whose pages may open the WebSocket.</summary>
    public IReadOnlyList<string> AllowedOrigins { get; init; } = [];

    /// <summary>One JSON object per log line (<c>--log-format json</c>): the start line is logged too.</summary>
    public bool JsonLogs { get; init; }

    /// <summary>Run as a node of this cluster (NATS JetStream); null for a single server.</summary>
    public NatsChatBackplaneOptions? Cluster { get; init; }
}
