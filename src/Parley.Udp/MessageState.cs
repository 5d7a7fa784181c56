namespace Parley.Udp;

/// <summary>Where a sent message is: queued → sent → received → delivered, or a failure.</summary>
public enum MessageState : byte
{
    /// <summary>Not known: never sent by this peer, or finished so long ago that it was forgotten.</summary>
    Unknown = 0,

    /// <summary>Accepted by <c>Send</c>, waiting for congestion or flow-control room.</summary>
    Queued,

    /// <summary>Every fragment went out at least once. Final for unreliable messages.</summary>
    Sent,

    /// <summary>The peer's transport acknowledged every fragment.</summary>
    Received,

    /// <summary>The peer's application consumed it (its handler returned). Final.</summary>
    Delivered,

    /// <summary>A stage's timeout passed, or the peer went away first. Final.</summary>
    TimedOut,

    /// <summary>Cancelled before it was sent. Final.</summary>
    Cancelled,
}

/// <summary>How a <c>Send</c> call went.</summary>
public enum UdpSendStatus : byte
{
    /// <summary>Queued; the result carries its message id.</summary>
    Queued,

    /// <summary>The peer's pending messages or bytes are at their limit: try again when some finish.</summary>
    QueueFull,

    /// <summary>Larger than <see cref="UdpHostOptions.MaxMessageSize"/>.</summary>
    TooLarge,

    /// <summary>The peer is not connected.</summary>
    NotConnected,

    /// <summary>The channel is outside 0..Channels-1.</summary>
    BadChannel,
}

/// <summary>The outcome of a send: a status and, when queued, the message id to follow it by.</summary>
public readonly record struct SendResult(UdpSendStatus Status, uint MessageId)
{
    /// <summary>True when the message was queued.</summary>
    public bool IsQueued => Status == UdpSendStatus.Queued;
}

/// <summary>A peer's session state.</summary>
public enum PeerState : byte
{
    /// <summary>Handshake under way.</summary>
    Connecting,

    /// <summary>The session is up.</summary>
    Connected,

    /// <summary>Ended. A pinned peer goes back to <see cref="Connecting"/> after <see cref="UdpHostOptions.PinnedReconnectDelay"/>.</summary>
    Disconnected,
}

/// <summary>Why a session ended (also the reason byte of a Close packet).</summary>
public enum DisconnectReason : byte
{
    /// <summary>Still connected.</summary>
    None = 0,

    /// <summary>This side's application disconnected.</summary>
    Local = 1,

    /// <summary>The peer's application disconnected.</summary>
    Remote = 2,

    /// <summary>Nothing heard for <see cref="UdpHostOptions.HeartbeatTimeout"/>.</summary>
    Timeout = 3,

    /// <summary>The handshake did not finish within <see cref="UdpHostOptions.ConnectTimeout"/>.</summary>
    ConnectFailed = 4,

    /// <summary>The other side holds <see cref="UdpHostOptions.MaxPeers"/> sessions.</summary>
    ServerFull = 5,

    /// <summary>A reliable message was not received within <see cref="UdpHostOptions.ReceiveTimeout"/>.</summary>
    MessageTimeout = 6,

    /// <summary>The host was disposed.</summary>
    HostClosed = 7,

    /// <summary>The peer broke the protocol's limits (sent past its flow-control credit or sequence window).</summary>
    ProtocolViolation = 8,

    /// <summary>The other side holds <see cref="UdpHostOptions.MaxPeersPerAddress"/> sessions from this host's address already.</summary>
    AddressLimit = 9,
}
