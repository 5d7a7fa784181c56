namespace Parley.Udp;

/// <summary>
/// Loss-based congestion control (AIMD in the NewReno mould, RFC 9002 §7 in spirit): slow start
/// doubles the window each round trip until the first loss; after it the window keeps doubling
/// while the round trip shows no queue, and otherwise grows by one packet per round trip (or 1 %
/// per round trip on large windows, Scalable TCP's rule); it shrinks to 0.7 of itself on a loss
/// (CUBIC's factor), at most once per recovery period (losses of packets sent
/// before the last reduction do not reduce it again). The window never falls below two packets.
/// (Pacing — a window spread over the smoothed round trip — is the peer's token bucket.)
/// <para>
/// Random loss is not congestion: a loss reduces the window only when the smoothed loss rate
/// is at least <c>randomLossTolerance</c> or the round trip has grown above its minimum (a queue
/// is building). Below that, the lost data is simply retransmitted — so a path with a few
/// percent of random loss keeps its throughput, where pure AIMD would fall to a couple of packets
/// per round trip. A tolerance of 0 is classic AIMD.
/// </para>
/// Not thread-safe (one per peer).
/// </summary>
internal sealed class CongestionController(int maxPacketSize, int initialPackets = 10, double randomLossTolerance = 0)
{
    private const double LossRateWeight = 1.0 / 128;

    private int _minimumWindow = 2 * maxPacketSize;
    private long _recoveryStartPacket = -1;
    private long _peakInFlight;        // this round trip's highest bytes in flight
    private long _lastRoundPeak;       // the previous round trip's
    private long _roundEndPacket = -1; // the round ends when a packet sent after this one is acknowledged
    private long _lastSentPacket = -1;

    public long Window { get; private set; } = (long)initialPackets * maxPacketSize;

    public long SlowStartThreshold { get; private set; } = long.MaxValue;

    public long BytesInFlight { get; private set; }

    public bool InSlowStart => Window < SlowStartThreshold;

    /// <summary>Exponentially smoothed fraction of packets lost (about the last 128 outcomes).</summary>
    public double LossRate { get; private set; }

    /// <summary>True when <paramref name="bytes"/> more may be sent now (one packet always may, when nothing is in flight).</summary>
    public bool CanSend(int bytes) => BytesInFlight == 0 || BytesInFlight + bytes <= Window;

    /// <summary>Path-MTU probing raised the packet size: the window's floor follows (two packets), and so does the window.</summary>
    public void OnPacketSizeChanged(int packetSize)
    {
        _minimumWindow = Math.Max(_minimumWindow, 2 * packetSize);
        Window = Math.Max(Window, _minimumWindow);
        SlowStartThreshold = Math.Max(SlowStartThreshold, _minimumWindow);
    }

    public void OnSent(int bytes, long packetNumber = -1)
    {
        BytesInFlight += bytes;
        _peakInFlight = Math.Max(_peakInFlight, BytesInFlight);
        _lastSentPacket = Math.Max(_lastSentPacket, packetNumber);
    }

    /// <summary>
    /// A packet of <paramref name="bytes"/> was acknowledged. <paramref name="queueBuilding"/>:
    /// the latest round trip is well above the minimum. While it is not, the window grows as in
    /// slow start (doubling per round trip) even after a loss: the path shows spare capacity, and
    /// linear growth would need minutes to refill a large window after one early cut (measured:
    /// 5 % loss at 20 ms stuck at ~100 KB, ~10 MiB/s). Once a queue forms, growth is additive.
    /// </summary>
    public void OnAcked(long packetNumber, int bytes, bool queueBuilding = true)
    {
        BytesInFlight = Math.Max(0, BytesInFlight - bytes);
        LossRate -= LossRate * LossRateWeight;
        if (packetNumber <= _recoveryStartPacket)
        {
            return; // sent before the last reduction: no growth during recovery
        }

        if (packetNumber > _roundEndPacket)
        {
            _lastRoundPeak = _peakInFlight;
            _peakInFlight = BytesInFlight;
            _roundEndPacket = _lastSentPacket;
        }

        if (Math.Max(_peakInFlight, _lastRoundPeak) < Window / 2)
        {
            return; // application-limited: a window not half used says nothing about the path (RFC 7661)
        }

        // Congestion avoidance: Reno's one packet per round trip, or 1 % of the window per round
        // trip when that is more (Scalable TCP's rule): Reno alone needs ~1250 round trips to
        // regrow a 2500-packet window after a cut — 50 s at 40 ms — which a fast path with
        // occasional loss never gets.
        Window += InSlowStart || !queueBuilding ? bytes : Math.Max(Math.Max(1, (long)maxPacketSize * bytes / Window), bytes / 100);
    }

    /// <summary>
    /// A packet was declared lost; <paramref name="largestSentPacket"/> marks the new recovery period.
    /// <paramref name="queueBuilding"/>: the latest round trip is well above the minimum.
    /// </summary>
    public void OnLost(long packetNumber, int bytes, long largestSentPacket, bool queueBuilding = true)
    {
        BytesInFlight = Math.Max(0, BytesInFlight - bytes);
        LossRate += (1 - LossRate) * LossRateWeight;
        if (!queueBuilding && LossRate < randomLossTolerance)
        {
            return; // random loss on an unqueued path: retransmit, keep the pace
        }

        if (packetNumber <= _recoveryStartPacket)
        {
            return; // already reduced for this episode
        }

        _recoveryStartPacket = largestSentPacket;
        SlowStartThreshold = Math.Max(_minimumWindow, Window * 7 / 10); // CUBIC's β = 0.7 (RFC 9438) rather than Reno's halving
        Window = SlowStartThreshold;
    }
}
