namespace Parley.Udp;

/// <summary>
/// A message handed to <see cref="UdpHost.MessageReceived"/>. <see cref="Data"/> is valid only
/// during the handler (it points into the receive buffer); copy what you keep. For a reliable
/// message, the handler returning is what makes it <see cref="MessageState.Delivered"/> at the sender.
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

/// <summary>Handles one received message; runs on the host's receive thread (keep it short; it may call <c>Send</c>).</summary>
public delegate void UdpMessageHandler(UdpPeer peer, in UdpMessage message);

/// <summary>A sent message changed state.</summary>
public delegate void UdpMessageStateHandler(UdpPeer peer, uint messageId, MessageState state);

/// <summary>A peer changed state (connected, disconnected, address changed).</summary>
public delegate void UdpPeerHandler(UdpPeer peer);

/// <summary>One entry of <see cref="UdpHost.DrainPeerChanges"/>.</summary>
public readonly record struct PeerChange(UdpPeer Peer, PeerState State, DisconnectReason Reason, DateTimeOffset At);
