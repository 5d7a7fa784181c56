namespace Parley.Udp;

/// <summary>A snapshot of one peer's counters and state (or a host's totals, with RTT fields zero).</summary>
public sealed record UdpStatistics
{
    /// <summary>Datagrams sent.</summary>
    public long PacketsSent { get; init; }

    /// <summary>Datagrams received and accepted (checksum valid, for this session).</summary>
    public long PacketsReceived { get; init; }

    /// <summary>Bytes of datagrams sent.</summary>
    public long BytesSent { get; init; }

    /// <summary>Bytes of datagrams received.</summary>
    public long BytesReceived { get; init; }

    /// <summary>Messages handed to <c>Send</c> and queued.</summary>
    public long MessagesSent { get; init; }

    /// <summary>Messages delivered to this host's application.</summary>
    public long MessagesReceived { get; init; }

    /// <summary>Application payload bytes delivered to this host's application.</summary>
    public long PayloadBytesReceived { get; init; }

    /// <summary>Message fragments sent again after a loss.</summary>
    public long Retransmissions { get; init; }

    /// <summary>Messages delayed by a loss: at least one of their fragments was sent again.</summary>
    public long MessagesRetransmitted { get; init; }

    /// <summary>The most times one message had a fragment sent again.</summary>
    public int MaxRetransmissionsPerMessage { get; init; }

    /// <summary>Packets declared lost (by acknowledgement gaps, a Nack, or a timeout).</summary>
    public long PacketsLost { get; init; }

    /// <summary>Retransmission timeouts that fired.</summary>
    public long Timeouts { get; init; }

    /// <summary>Packets received twice (dropped).</summary>
    public long DuplicatePackets { get; init; }

    /// <summary>Message fragments received again after they were already had (dropped).</summary>
    public long DuplicateMessages { get; init; }

    /// <summary>Datagrams dropped: bad checksum, malformed, unknown session, blacklisted, over a limit.</summary>
    public long PacketsDropped { get; init; }

    /// <summary>Datagrams dropped for a bad CRC32C.</summary>
    public long BadChecksums { get; init; }

    /// <summary>Datagrams with a valid checksum that named a live session and did not authenticate (<see cref="DropReason.AuthenticationFailed"/>): forged or tampered with. Host totals only.</summary>
    public long AuthenticationFailures { get; init; }

    /// <summary>Smoothed round-trip time.</summary>
    public TimeSpan SmoothedRtt { get; init; }

    /// <summary>Round-trip time variation.</summary>
    public TimeSpan RttVariation { get; init; }

    /// <summary>The retransmission timeout in force.</summary>
    public TimeSpan Rto { get; init; }

    /// <summary>Congestion window, bytes.</summary>
    public long CongestionWindow { get; init; }

    /// <summary>Bytes sent and not yet acknowledged or declared lost.</summary>
    public long BytesInFlight { get; init; }

    /// <summary>Flow-control credit the peer gives us now, bytes.</summary>
    public long SendCredit { get; init; }

    /// <summary>Messages queued, not yet fully sent.</summary>
    public int QueuedMessages { get; init; }

    /// <summary>Messages not yet final (queued, in flight, or waiting for their delivered confirmation).</summary>
    public int PendingMessages { get; init; }

    /// <summary>Payload bytes pending (queued or unacknowledged).</summary>
    public long PendingBytes { get; init; }

    /// <summary>Bytes held by reorder and reassembly buffers on the receiving side.</summary>
    public long BufferedReceiveBytes { get; init; }

    /// <summary>
    /// Events (messages, state changes, peer events) queued for the application's handlers and not
    /// yet taken for raising: a figure that stays high means a handler is slow (see <see cref="UdpHost"/>).
    /// </summary>
    public int QueuedEvents { get; init; }

    /// <summary>
    /// Unreliable messages that arrived but were dropped because this peer's queue of events already
    /// held a receive window's worth of unreliable messages (its handler fell that far behind).
    /// </summary>
    public long UnreliableMessagesDropped { get; init; }

    /// <summary>The packet size in use (raised by path-MTU probing).</summary>
    public int PacketSize { get; init; }

    /// <summary>Adds two snapshots' counters (host totals).</summary>
    internal UdpStatistics Add(UdpStatistics o) => this with
    {
        PacketsSent = PacketsSent + o.PacketsSent,
        PacketsReceived = PacketsReceived + o.PacketsReceived,
        BytesSent = BytesSent + o.BytesSent,
        BytesReceived = BytesReceived + o.BytesReceived,
        MessagesSent = MessagesSent + o.MessagesSent,
        MessagesReceived = MessagesReceived + o.MessagesReceived,
        PayloadBytesReceived = PayloadBytesReceived + o.PayloadBytesReceived,
        Retransmissions = Retransmissions + o.Retransmissions,
        MessagesRetransmitted = MessagesRetransmitted + o.MessagesRetransmitted,
        MaxRetransmissionsPerMessage = Math.Max(MaxRetransmissionsPerMessage, o.MaxRetransmissionsPerMessage),
        PacketsLost = PacketsLost + o.PacketsLost,
        Timeouts = Timeouts + o.Timeouts,
        DuplicatePackets = DuplicatePackets + o.DuplicatePackets,
        DuplicateMessages = DuplicateMessages + o.DuplicateMessages,
        PacketsDropped = PacketsDropped + o.PacketsDropped,
        BadChecksums = BadChecksums + o.BadChecksums,
        AuthenticationFailures = AuthenticationFailures + o.AuthenticationFailures,
        BytesInFlight = BytesInFlight + o.BytesInFlight,
        QueuedMessages = QueuedMessages + o.QueuedMessages,
        PendingMessages = PendingMessages + o.PendingMessages,
        PendingBytes = PendingBytes + o.PendingBytes,
        BufferedReceiveBytes = BufferedReceiveBytes + o.BufferedReceiveBytes,
        QueuedEvents = QueuedEvents + o.QueuedEvents,
        UnreliableMessagesDropped = UnreliableMessagesDropped + o.UnreliableMessagesDropped,
        PacketSize = Math.Max(PacketSize, o.PacketSize),
    };
}
