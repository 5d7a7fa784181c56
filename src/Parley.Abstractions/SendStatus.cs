namespace Parley;

/// <summary>
/// The outcome of a send, in the same words for every Parley transport: <c>Connection.Send</c>
/// returns it; a UDP peer's <c>Send</c> returns it inside a <c>SendResult</c> with the message's
/// id. Anything but <see cref="Queued"/> means nothing was queued.
/// </summary>
public enum SendStatus
{
    /// <summary>The message is queued and will be sent in order.</summary>
    Queued,

    /// <summary>The send queue was at its limit and this message was not queued: over a
    /// connection with <c>SlowConsumerPolicy.DropNewest</c> it is dropped (and counted); over UDP
    /// the peer's pending messages or bytes are at their limit — try again when some finish.</summary>
    QueueFull,

    /// <summary>The queue was full and <c>SlowConsumerPolicy.Disconnect</c> closed the connection.</summary>
    SlowConsumerDisconnected,

    /// <summary>The connection or session is closing, closed or not connected yet.</summary>
    Closed,

    /// <summary>Larger than the transport takes in one message (UDP: <c>UdpHostOptions.MaxMessageSize</c>).</summary>
    TooLarge,

    /// <summary>The channel is outside the session's channels (UDP).</summary>
    InvalidChannel,
}
