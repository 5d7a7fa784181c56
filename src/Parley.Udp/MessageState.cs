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

/// <summary>
/// The outcome of a send: a <see cref="SendStatus"/> (the words every Parley transport uses)
/// and, when queued, the message id that <see cref="UdpHost.MessageStateChanged"/> reports on.
/// A TCP connection returns the status alone: its messages have no ids to follow.
/// </summary>
public readonly record struct SendResult(SendStatus Status, uint MessageId)
{
    /// <summary>True when the message was queued.</summary>
    public bool IsQueued => Status == SendStatus.Queued;
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
