using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Parley.Chat;
using Parley.Http;
using Parley.WebSockets;

namespace Parley.Cli;

/// <summary>
/// The browser front door of <c>parley serve</c>: an HTTP server (Parley.Http) on the web port
/// serving the chat page, its settings (<c>/config.json</c>) and <c>/ws</c>, where a WebSocket
/// upgrade hands the connection to a Parley server of its own whose sessions run the same
/// <see cref="ChatServer"/> as TCP's: browser, <c>nc</c> and terminal users share rooms. Each
/// WebSocket text message is one command or one event of the NDJSON protocol, without the newline.
/// </summary>
internal sealed class ChatWeb : IAsyncDisposable
{
    private readonly HttpServer _http;
    private readonly ParleyServer _sessions;

    private ChatWeb(HttpServer http, ParleyServer sessions)
    {
        _http = http;
        _sessions = sessions;
    }

    /// <summary>Where the page is served.</summary>
    public EndPoint? EndPoint => _http.EndPoints[0];

    /// <summary>Browser sessions now.</summary>
    public int SessionCount => _sessions.ConnectionCount;

    /// <summary>Binds and starts; throws <see cref="System.Net.Sockets.SocketException"/> when the port is taken.</summary>
    public static async Task<ChatWeb> StartAsync(ChatServer chat, ChatWebSettings settings, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var webSockets = new WebSocketOptions
        {
            MaxMessageSize = chat.Options.MaxCommandBytes,
            MaxOutgoingMessageSize = chat.Options.EffectiveMaxEventBytes,
            MessageType = WebSocketMessageType.Text,
            AcceptBinary = false, // the chat protocol is text: a binary message is closed with 1003
        };
        foreach (string origin in settings.AllowedOrigins)
        {
            webSockets.AllowedOrigins.Add(origin);
        }

        if (settings.Peers is { } peers)
        {
            // A cluster's other nodes: their pages may move here when their own node goes away.
            Func<string, bool>? former = settings.FormerPeers;
            webSockets.OriginValidator = origin => peers().Contains(origin, StringComparer.OrdinalIgnoreCase) || (former?.Invoke(origin) ?? false);
        }

#pragma warning disable CA2000 // The servers own their listeners and dispose them when they stop.
        var listener = new WebSocketListener(webSockets, "/ws", loggers);
        var sessionOptions = new ParleyServerOptions
        {
            Framer = webSockets.CreateFramer(),
            MaxConnections = settings.MaxConnections,
            MaxConnectionsPerAddress = settings.MaxConnectionsPerAddress,
            RefusalMessage = ChatServer.RefusalEvent,
            MaxSendQueueBytes = settings.SendQueueBytes,
            SlowConsumerPolicy = SlowConsumerPolicy.Disconnect,

            // Browsers answer pings by themselves: a page that vanished (a laptop lid closed, a
            // phone that lost its network) is found within a minute or so, not at TCP's pace.
            KeepAliveInterval = TimeSpan.FromSeconds(20),
            IdleTimeout = TimeSpan.FromSeconds(60),
            LoggerFactory = loggers,
        };
        sessionOptions.Listen(listener);
        var sessions = new ParleyServer(sessionOptions);

        var httpOptions = new HttpServerOptions
        {
            MaxConnections = settings.MaxConnections + 256,
            MaxConnectionsPerAddress = settings.MaxConnectionsPerAddress, // page loads and upgrades under way: one address cannot take every slot
            KeepAliveTimeout = TimeSpan.FromSeconds(20), // a page's keep-alive connections, not sessions: those are WebSockets
            LoggerFactory = loggers,
        };
        ConnectionListener web = new SocketConnectionListener(settings.EndPoint);
        httpOptions.Listen(settings.Tls is { } tls ? new TlsConnectionListener(web, tls, loggers) : web);
#pragma warning restore CA2000
        httpOptions.Map("/ws", listener.Handler);
        httpOptions.Map("/config.json", new ConfigHandler(chat.Options, settings.Peers));
        Func<IReadOnlyList<string>>? peerSockets = settings.Peers is { } known ? () => Sockets(known()) : null;
        httpOptions.Fallback = new EmbeddedFiles(new Dictionary<string, string> { ["/"] = "index.html", ["/dashboard"] = "dashboard.html" }, peerSockets);
#pragma warning disable CA2000 // Owned by the ChatWeb returned, disposed below when starting fails.
        var http = new HttpServer(httpOptions);
#pragma warning restore CA2000
        try
        {
            sessions.Start((connection, closed) => chat.RunSessionAsync(connection, closed));
            await http.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await http.DisposeAsync().ConfigureAwait(false);
            await sessions.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return new ChatWeb(http, sessions);
    }

    /// <summary>Stops taking requests, then closes the browser sessions (a Close frame each).</summary>
    public async Task StopAsync()
    {
        await _http.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _sessions.StopAsync(CancellationToken.None).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await _http.DisposeAsync().ConfigureAwait(false);
        await _sessions.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Page origins (<c>http(s)://host:port</c>) as their sockets (<c>ws(s)://host:port/ws</c>).</summary>
    private static string[] Sockets(IReadOnlyList<string> origins) =>
        [.. origins.Select(origin => (origin.StartsWith("https://", StringComparison.OrdinalIgnoreCase) ? "wss://" + origin[8..] : "ws://" + origin[7..]) + "/ws")];

    /// <summary><c>/config.json</c>: what the page needs to know before it connects.</summary>
    private sealed class ConfigHandler : HttpHandler
    {
        private readonly ChatServerOptions _options;
        private readonly Func<IReadOnlyList<string>>? _peers;

        public ConfigHandler(ChatServerOptions options, Func<IReadOnlyList<string>>? peers)
        {
            _options = options;
            _peers = peers;
        }

        public override ValueTask<bool> HandleAsync(HttpContext context)
        {
            if (context.Path is not "/config.json")
            {
                return new ValueTask<bool>(false);
            }

            // Written per request: in a cluster the other nodes come and go.
            using var buffer = new MemoryStream();
            using (var json = new Utf8JsonWriter(buffer))
            {
                json.WriteStartObject();
                json.WriteString("auth", _options.Auth == AuthMode.Required ? "required" : "open");
                json.WriteNumber("maxMessageBytes", _options.MaxMessageBytes);
                json.WriteString("version", typeof(ChatWeb).Assembly.GetName().Version?.ToString(3) ?? "");
                if (_peers is not null)
                {
                    // The other nodes' sockets, for the page to move to when this node goes away.
                    json.WriteStartArray("peers");
                    foreach (string socket in Sockets(_peers()))
                    {
                        json.WriteStringValue(socket);
                    }

                    json.WriteEndArray();
                }

                json.WriteEndObject();
            }

            ReadOnlySpan<byte> body = buffer.GetBuffer().AsSpan(0, (int)buffer.Length);
            HttpResponse response = context.Response;
            response.StartHead(200);
            response.AddEncodedHeaders("Content-Type: application/json\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"u8);
            response.EndHead(body.Length);
            response.WriteBody(body);
            return new ValueTask<bool>(true);
        }
    }
}

/// <summary>The web side of <c>parley serve</c>.</summary>
internal sealed record ChatWebSettings(IPEndPoint EndPoint, int MaxConnections, int MaxConnectionsPerAddress, long SendQueueBytes)
{
    /// <summary>Serve the page and the socket over TLS (https://, wss://) with this certificate.</summary>
    public TlsServerOptions? Tls { get; init; }

    /// <summary>Origins besides the page's own that may open the WebSocket.</summary>
    public IReadOnlyList<string> AllowedOrigins { get; init; } = [];

    /// <summary>In a cluster: the other nodes' page origins now (<c>http://host:port</c>), listed
    /// in <c>/config.json</c> for the page to fail over to, and allowed to open the WebSocket here.</summary>
    public Func<IReadOnlyList<string>>? Peers { get; init; }

    /// <summary>In a cluster: every other node's page origin heard of since start, also allowed (its node may be the one that died).</summary>
    public Func<string, bool>? FormerPeers { get; init; }

    /// <summary>The page's address, for the start line.</summary>
    public static string Describe(EndPoint? endPoint, bool tls) => $"{(tls ? "https" : "http")}://{HttpCommand.FormatEndPoint(endPoint)}/";
}
