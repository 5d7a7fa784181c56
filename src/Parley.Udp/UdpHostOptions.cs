using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Parley.Udp;

/// <summary>
/// Every knob of a <see cref="UdpHost"/>, with its default and why. Read once when the host
/// starts; later changes have no effect. <see cref="Validate"/> runs at start and throws on a
/// combination that could not work (a receive window smaller than two maximum-size messages
/// would deadlock a fragmented message).
/// </summary>
public sealed class UdpHostOptions
{
    /// <summary>The smallest packet size every path must carry: 1200 bytes (the IPv6 minimum MTU minus headers, QUIC's choice). Hellos are padded to it.</summary>
    public int MinPacketSize { get; set; } = 1200;

    /// <summary>The largest datagram this host sends or accepts. Default 1472 (a 1500-byte Ethernet MTU minus IPv4 and UDP headers); path-MTU probing climbs from <see cref="MinPacketSize"/> towards it. Up to 65507 on loopback.</summary>
    public int MaxPacketSize { get; set; } = 1472;

    /// <summary>
    /// Linux: send each run of equal-size datagrams to one peer with one system call (UDP GSO) and
    /// receive runs from one sender with one call (UDP GRO). The datagrams on the wire are the same.
    /// Default on; elsewhere, with <see cref="SimulatedConditions"/>, or where the kernel refuses, one
    /// call per datagram.
    /// </summary>
    public bool SegmentationOffload { get; set; } = true;

    /// <summary>
    /// Raise the application's events on the host's own two threads (after they release the
    /// host's lock) instead of queueing each peer's events to the thread pool. Default off. As
    /// Kestrel's option of the same name: unsafe because application code then runs on the I/O
    /// threads — a handler that blocks or works long stops receiving (or sending) for every peer
    /// of the host, and one that waits for something those threads must do first (a reply, a
    /// synchronous <see cref="UdpHost.Dispose"/>) never returns. In exchange there is no hand-off
    /// to another thread per batch of events: on a small machine that hand-off is most of what a
    /// stream of small messages costs beyond the protocol (docs/architecture.md). Handlers of one
    /// peer still never overlap and keep their order. Still on the thread pool: events caused by
    /// the application's calls on its own threads or from inside a handler (another peer's
    /// <c>Disconnect</c>, <see cref="UdpHost.Dispose"/>), and a peer's run once it has had its
    /// turn (16 batches), so other peers' events are not held behind it. A host without threads
    /// (tests) raises events from <c>DispatchEvents</c> either way.
    /// </summary>
    public bool UnsafePreferInlineScheduling { get; set; }

    /// <summary>Probe for a larger packet size after connecting. Default on; a lost probe costs nothing but the probe.</summary>
    public bool MtuProbing { get; set; } = true;

    /// <summary>The largest message accepted or sent. Default 1 MiB; larger messages are refused with <see cref="SendStatus.TooLarge"/>.</summary>
    public int MaxMessageSize { get; set; } = 1024 * 1024;

    /// <summary>Channels per peer (0..Channels-1), each with its own ordering. Default 8, at most 255.</summary>
    public int Channels { get; set; } = 8;

    /// <summary>Bytes of reliable message data a peer may send beyond what this host's application consumed (flow control). Default 4 MiB; at least twice <see cref="MaxMessageSize"/>.</summary>
    public int ReceiveWindowBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>Reliable messages per channel a peer may have beyond the oldest one not yet received (bounds the reorder buffers). Default 8192.</summary>
    public int MaxEnqueuedMessages { get; set; } = 8192;

    /// <summary>
    /// Reliable fragmented messages a peer may have in reassembly at once; a fragment that would
    /// start one more is not acknowledged, so its sender sends it again once one has completed.
    /// Default 64: more than a stream of large messages keeps open on a lossy path (about one
    /// round trip's worth), far fewer than the 16 channels × 8192 sequences × 1 MiB a peer could
    /// otherwise open with one small fragment each.
    /// </summary>
    public int MaxReassembliesPerPeer { get; set; } = 64;

    /// <summary>
    /// Bytes all peers' reassemblies (reliable and unreliable) may hold at once on this host; a
    /// message in reassembly holds the 4 KiB chunks its fragments have landed in so far (counted
    /// at their pooled size), not its declared size. Past it a fragment is not kept: a reliable
    /// one is sent again by its sender, an unreliable message is dropped. Default 256 MiB: 64
    /// peers each reassembling a full default receive window. At least <see cref="MaxMessageSize"/>.
    /// </summary>
    public long MaxReassemblyBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>
    /// Bytes of <see cref="MaxReassemblyBytes"/> the sessions of one source address (an IPv4
    /// address or an IPv6 /64) may hold together, so that one address's many sessions cannot take
    /// the whole budget and starve everyone else's fragmented messages. Default 64 MiB (a quarter
    /// of the default budget: 16 full default receive windows); capped at
    /// <see cref="MaxReassemblyBytes"/>. At least <see cref="MaxMessageSize"/>. Raise it for
    /// loopback benchmarks whose every session comes from one address.
    /// </summary>
    public long MaxReassemblyBytesPerAddress { get; set; } = 64L * 1024 * 1024;

    /// <summary>
    /// Incomplete unreliable fragmented messages kept per peer; the stalest is dropped past it, and
    /// also when their declared sizes together would pass <see cref="ReceiveWindowBytes"/>. Default 16.
    /// </summary>
    public int MaxIncompleteUnreliable { get; set; } = 16;

    /// <summary>How long an incomplete unreliable fragmented message waits for its missing fragments (on the host's clock, whether or not the peer sends more). Default 5 s.</summary>
    public TimeSpan UnreliableFragmentExpiry { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Messages per peer not yet final (queued, in flight or waiting for their delivered confirmation). A full queue makes <c>Send</c> return <see cref="SendStatus.QueueFull"/>. Default 65536.</summary>
    public int MaxPendingMessages { get; set; } = 65536;

    /// <summary>Payload bytes per peer queued or unacknowledged. Default 16 MiB.</summary>
    public long MaxPendingBytes { get; set; } = 16L * 1024 * 1024;

    /// <summary>Acknowledge at once after this many ack-eliciting packets (<c>max_confirmation_frequency</c>). Default 2, as TCP and QUIC.</summary>
    public int AckEveryPackets { get; set; } = 2;

    /// <summary>Longest wait before acknowledging (<c>max_confirmation_delay</c>). Default 1 ms: short, because loopback round trips are tens of microseconds.</summary>
    public TimeSpan MaxAckDelay { get; set; } = TimeSpan.FromMilliseconds(1);

    /// <summary>Retransmission timeout before any RTT sample (RFC 6298 says 1 s; default 200 ms, as QUIC's 333 ms and modern stacks choose lower).</summary>
    public TimeSpan InitialRto { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Lower bound of the retransmission timeout. Default 20 ms: lower, a busy host's scheduling delays (a few ms on 2 cores) fire spurious timeouts; losses with later packets behind them are found sooner by acknowledgement gaps anyway.</summary>
    public TimeSpan MinRto { get; set; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Upper bound of the retransmission timeout, after backoff. Default 2 s.</summary>
    public TimeSpan MaxRto { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Loss rate up to which losses on a path whose round trip has not grown are taken as random
    /// (radio, a flaky link) rather than congestion, and do not shrink the congestion window.
    /// Default 0.15; 0 gives classic AIMD, halving on any loss.
    /// </summary>
    public double RandomLossTolerance { get; set; } = 0.15;

    /// <summary>Silence from a peer after which heartbeats start (<c>peer_start_heartbeat_timeout</c>). Default 1 s.</summary>
    public TimeSpan StartHeartbeatTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Interval between heartbeats while a peer is silent (<c>peer_heartbeat_delay</c>). Default 500 ms.</summary>
    public TimeSpan HeartbeatDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Silence after which a peer is inactive and disconnected, or reconnected when pinned (<c>peer_heartbeat_timeout</c>). Default 10 s.</summary>
    public TimeSpan HeartbeatTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a handshake may take before the connect fails. Default 5 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a handshake cookie stays valid. Default 10 s.</summary>
    public TimeSpan CookieLifetime { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Queued → sent: a message not sent within this is dropped as timed out (it never reached the wire, so ordering is kept). Default: infinite.</summary>
    public TimeSpan SendTimeout { get; set; } = Timeout.InfiniteTimeSpan;

    /// <summary>Sent → received: a reliable message the peer has not received this long after it first went out disconnects the peer (its ordered stream cannot skip it; TCP's user timeout). Default 30 s.</summary>
    public TimeSpan ReceiveTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Received → delivered: a message whose delivered confirmation has not come within this becomes <see cref="MessageState.TimedOut"/>. Default 30 s.</summary>
    public TimeSpan DeliveryTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Sessions this host holds at once (both directions); a Connect past it is refused. Default 10 000.</summary>
    public int MaxPeers { get; set; } = 10_000;

    /// <summary>
    /// Sessions this host accepts from one source address at once (an IPv4 address, or an IPv6
    /// /64); one more Connect is refused with <see cref="CloseReason.AddressLimit"/> and
    /// counted as <see cref="DropReason.AddressLimit"/>. Sessions this host opens are not counted.
    /// Default 32: room for a household or small office behind one NAT address, while one source
    /// cannot take every slot of <see cref="MaxPeers"/> (issue 16: 8845 sessions from one socket).
    /// Load tests from one machine raise it.
    /// </summary>
    public int MaxPeersPerAddress { get; set; } = 32;

    /// <summary>Peer state changes kept for <see cref="UdpHost.DrainPeerChanges"/>; older ones are dropped (and counted). Default 4096.</summary>
    public int MaxPeerChanges { get; set; } = 4096;

    /// <summary>Time between reconnect attempts of a pinned peer. Default 1 s.</summary>
    public TimeSpan PinnedReconnectDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Kernel socket buffer sizes asked for (the kernel may cap them). Default 4 MiB each.</summary>
    public int SocketBufferSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>
    /// Loss, delay, jitter, reordering, duplication and corruption applied to every datagram this
    /// host sends — for tests and benchmarks on loopback, never for production. Default null (none).
    /// </summary>
    public NetworkConditions? SimulatedConditions { get; set; }

    /// <summary>Seed of the random source behind <see cref="SimulatedConditions"/>, so runs see the same pattern. Default 1.</summary>
    public int SimulationSeed { get; set; } = 1;

    /// <summary>The clock of every timeout, retransmission and pacing decision. Default
    /// <see cref="TimeProvider.System"/>; tests give a clock they move by hand (as for a TCP
    /// connection's <c>ConnectionOptions.TimeProvider</c>).</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Logging. Default: no logging (as for a TCP server's <c>ConnectionOptions.LoggerFactory</c>).</summary>
    public ILoggerFactory LoggerFactory { get; set; } = NullLoggerFactory.Instance;

    /// <summary>Checks the options; throws <see cref="ArgumentException"/> naming the first bad one.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(TimeProvider, nameof(TimeProvider));
        ArgumentNullException.ThrowIfNull(LoggerFactory, nameof(LoggerFactory));
        Require(MinPacketSize is >= 576 and <= 65507, nameof(MinPacketSize), "must be 576..65507");
        Require(MaxPacketSize >= MinPacketSize && MaxPacketSize <= 65507, nameof(MaxPacketSize), "must be MinPacketSize..65507");
        Require(MaxMessageSize > 0, nameof(MaxMessageSize), "must be positive");
        Require(Channels is >= 1 and <= 255, nameof(Channels), "must be 1..255");
        Require(ReceiveWindowBytes >= 2L * MaxMessageSize, nameof(ReceiveWindowBytes), "must be at least twice MaxMessageSize (a fragmented message must fit while another is buffered)");
        Require(MaxEnqueuedMessages is >= 16 and <= 1 << 20, nameof(MaxEnqueuedMessages), "must be 16..1048576");
        Require(MaxPendingMessages >= 1, nameof(MaxPendingMessages), "must be positive");
        Require(MaxPendingBytes >= MaxMessageSize, nameof(MaxPendingBytes), "must hold at least one maximum-size message");
        Require(AckEveryPackets >= 1, nameof(AckEveryPackets), "must be positive");
        Require(MinRto > TimeSpan.Zero && MaxRto >= MinRto && InitialRto >= MinRto, nameof(InitialRto), "need 0 < MinRto <= InitialRto, MinRto <= MaxRto");
        Require(HeartbeatTimeout > StartHeartbeatTimeout && HeartbeatDelay > TimeSpan.Zero, nameof(HeartbeatTimeout), "must exceed StartHeartbeatTimeout, with a positive HeartbeatDelay");
        Require(RandomLossTolerance is >= 0 and < 1, nameof(RandomLossTolerance), "must be 0..1");
        Require(MaxPeers >= 1 && MaxPeerChanges >= 1, nameof(MaxPeers), "must be positive");
        Require(MaxPeersPerAddress >= 1, nameof(MaxPeersPerAddress), "must be positive");
        Require(MaxReassembliesPerPeer is >= 1 and <= 1 << 20, nameof(MaxReassembliesPerPeer), "must be 1..1048576");
        Require(MaxReassemblyBytes >= MaxMessageSize, nameof(MaxReassemblyBytes), "must hold at least one maximum-size message");
        Require(MaxReassemblyBytesPerAddress >= MaxMessageSize, nameof(MaxReassemblyBytesPerAddress), "must hold at least one maximum-size message");
        Require(MaxIncompleteUnreliable >= 1, nameof(MaxIncompleteUnreliable), "must be positive");
    }

    private static void Require(bool condition, string name, string why)
    {
        if (!condition)
        {
            throw new ArgumentException($"UdpHostOptions.{name} {why}.", name);
        }
    }
}
