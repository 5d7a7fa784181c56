namespace Parley.WebSockets;

/// <summary>
/// The settings one side of WebSocket connections shares with its framer: limits, what kinds
/// of message are accepted, which origins may connect (servers), what is offered (clients).
/// </summary>
public sealed class WebSocketOptions
{
    /// <summary>The default message limit, 64 KiB.</summary>
    public const int DefaultMaxMessageSize = 64 * 1024;

    /// <summary>The longest message accepted from the peer, in bytes, all fragments together
    /// (1 to 64 MiB; default 64 KiB). A longer one closes the connection with 1009, as soon as
    /// a frame header says it will be longer — before its payload is buffered.</summary>
    public int MaxMessageSize { get; set; } = DefaultMaxMessageSize;

    /// <summary>The longest message this side writes; 0 (the default) for
    /// <see cref="MaxMessageSize"/>. A server whose replies are built from many peers' data gives
    /// them more room than its peers' requests (see <see cref="MessageFramer.MaxOutgoingMessageSize"/>).</summary>
    public int MaxOutgoingMessageSize { get; set; }

    /// <summary>The kind of message this side sends (default text).</summary>
    public WebSocketMessageType MessageType { get; set; } = WebSocketMessageType.Text;

    /// <summary>Accept text messages from the peer (default true); when false one closes the connection with 1003.</summary>
    public bool AcceptText { get; set; } = true;

    /// <summary>Accept binary messages from the peer (default true); when false one closes the connection with 1003.</summary>
    public bool AcceptBinary { get; set; } = true;

    /// <summary>
    /// Servers: the <c>Origin</c>s a browser may connect from, such as <c>https://chat.example.com</c>
    /// (compared without regard to case); <c>*</c> allows any. Whatever the list, a request with
    /// no <c>Origin</c> (not from a browser) is allowed, and so is one whose origin is the server
    /// it asks when the server is addressed by IP address or as <c>localhost</c> (its
    /// <c>Origin</c> is <c>http(s)://</c> the request's <c>Host</c>). A server reached by a name
    /// must list its own pages' origin: a name is what DNS rebinding forges. Others get 403: a
    /// page on another site cannot open a socket with the visitor's credentials (cross-site
    /// WebSocket hijacking).
    /// </summary>
    public IList<string> AllowedOrigins { get; } = [];

    /// <summary>
    /// Servers: asked about an <c>Origin</c> that neither <see cref="AllowedOrigins"/> nor the
    /// same-origin rule allows, as the header holds it (<c>http://host:port</c>); true lets it in.
    /// For origins that change while the server runs (a cluster's other nodes). Must be thread-safe.
    /// </summary>
    public Func<string, bool>? OriginValidator { get; set; }

    /// <summary>Servers: the subprotocols spoken, in order of preference; the first the client
    /// also offers is chosen. Clients: the subprotocols offered. Empty (the default): none.</summary>
    public IList<string> SubProtocols { get; } = [];

    /// <summary>Clients: the <c>Origin</c> header sent; null (the default) sends none.</summary>
    public string? Origin { get; set; }

    /// <summary>Servers: upgraded connections waiting for the Parley server to accept them
    /// (1 to 65 536; default 256). Past it, a request to upgrade gets 503.</summary>
    public int MaxPendingConnections { get; set; } = 256;

    /// <summary>
    /// How long the peer may take over what this side gathers before handing it on: a message
    /// sent in fragments (from its first fragment to its last) or a control frame, and how long a
    /// pong may wait for the peer to take it (a peer that pings and never reads). Past it the
    /// connection is closed. Default 30 s. (An unfragmented message streams straight to the
    /// connection, whose own <c>IncompleteMessageTimeout</c> applies to it.)
    /// </summary>
    public TimeSpan IncompleteMessageTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The clock of <see cref="IncompleteMessageTimeout"/>.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Clients: the longest handshake response accepted (default 16 KiB).</summary>
    public int MaxHandshakeResponseSize { get; set; } = 16 * 1024;

    internal int EffectiveMaxOutgoingMessageSize => MaxOutgoingMessageSize == 0 ? MaxMessageSize : MaxOutgoingMessageSize;

    /// <summary>The framer of connections with these settings: on a server's <c>ParleyServerOptions.Framer</c>
    /// (or <c>isClient</c> on a client's <c>ParleyClientOptions.Framer</c>).</summary>
    public WebSocketFramer CreateFramer(bool isClient = false)
    {
        Validate();
        return new WebSocketFramer(MaxMessageSize, EffectiveMaxOutgoingMessageSize, MessageType, isClient);
    }

    /// <summary>Throws when a setting is out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxMessageSize, 1, nameof(MaxMessageSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxMessageSize, 64 * 1024 * 1024, nameof(MaxMessageSize));
        ArgumentOutOfRangeException.ThrowIfNegative(MaxOutgoingMessageSize, nameof(MaxOutgoingMessageSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxOutgoingMessageSize, 64 * 1024 * 1024, nameof(MaxOutgoingMessageSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPendingConnections, 1, nameof(MaxPendingConnections));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxPendingConnections, 65_536, nameof(MaxPendingConnections));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxHandshakeResponseSize, 256, nameof(MaxHandshakeResponseSize));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(IncompleteMessageTimeout, TimeSpan.Zero, nameof(IncompleteMessageTimeout));
        ArgumentNullException.ThrowIfNull(TimeProvider);
        if (!AcceptText && !AcceptBinary)
        {
            throw new ArgumentException("At least one of AcceptText and AcceptBinary must be true.");
        }

        if (MessageType is not (WebSocketMessageType.Text or WebSocketMessageType.Binary))
        {
            throw new ArgumentOutOfRangeException(nameof(MessageType));
        }
    }
}
