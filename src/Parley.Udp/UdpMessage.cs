namespace Parley.Udp;

/// <summary>
/// A message handed to <see cref="UdpHost.MessageReceived"/>. <see cref="Data"/> is valid only
/// during the handler (it points into a pooled buffer that goes back when the handler returns);
/// copy what you keep. For a reliable message, the handler returning is what makes it
/// <see cref="MessageState.Delivered"/> at the sender and gives its flow-control credit back.
/// </summary>
public readonly ref struct UdpMessage(ReadOnlySpan<byte> data, byte channel, DeliveryMode mode, uint id)
{
    /// <summary>The payload.</summary>
    public ReadOnlySpan<byte> Data { get; } = data;

    /// <summary>The channel it was sent on.</summary>
    public byte Channel { get; } = channel;

    /// <summary>How it was sent.</summary>
    public DeliveryMode Mode { get; } = mode;

    /// <summary>The sender's id for it (what the sender's state queries name).</summary>
    public uint Id { get; } = id;
}

/// <summary>
/// Handles one received message. Runs on the thread pool, outside the host's lock: one peer's
/// handlers one at a time and in order, different peers' possibly at the same time. It may call
/// anything (<c>Send</c> included); while it runs, its peer's later events wait (see <see cref="UdpHost"/>).
/// </summary>
public delegate void UdpMessageHandler(UdpPeer peer, in UdpMessage message);

/// <summary>A sent message changed state. Raised like <see cref="UdpMessageHandler"/>: outside the lock, in order per peer.</summary>
public delegate void UdpMessageStateHandler(UdpPeer peer, uint messageId, MessageState state);

/// <summary>A peer changed state (connected, disconnected, address changed). Raised like <see cref="UdpMessageHandler"/>: outside the lock, in order per peer.</summary>
public delegate void UdpPeerHandler(UdpPeer peer);

/// <summary>One entry of <see cref="UdpHost.DrainPeerChanges"/>.</summary>
public readonly record struct PeerChange(UdpPeer Peer, PeerState State, CloseReason Reason, DateTimeOffset At);
