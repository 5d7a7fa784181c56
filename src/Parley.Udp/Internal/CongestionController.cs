namespace Parley.Udp;

/// <summary>
/// Loss-based congestion control (NewReno-style AIMD, RFC 9002 §7 in spirit): slow start
/// doubles the window each round trip until the first loss; then the window grows by one packet
/// per round trip and halves on a loss, at most once per recovery period (losses of packets sent
/// before the last reduction do not reduce it again). The window never falls below two packets.
/// A pacing interval spreads a window over a round trip instead of sending it in one burst.
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

    public void OnSent(int bytes) => BytesInFlight += bytes;

    /// <summary>A packet of <paramref name="bytes"/> was acknowledged.</summary>
    public void OnAcked(long packetNumber, int bytes)
    {
        BytesInFlight = Math.Max(0, BytesInFlight - bytes);
        LossRate -= LossRate * LossRateWeight;
        if (packetNumber <= _recoveryStartPacket)
        {
            return; // sent before the last reduction: no growth during recovery
        }

        Window += InSlowStart ? bytes : Math.Max(1, (long)maxPacketSize * bytes / Window);
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
        SlowStartThreshold = Math.Max(_minimumWindow, Window / 2);
        Window = SlowStartThreshold;
    }

    /// <summary>The time between packets that spreads one window over a round trip (25 % headroom).</summary>
    public TimeSpan PacingInterval(TimeSpan smoothedRtt, int packetSize) =>
        smoothedRtt <= TimeSpan.Zero ? TimeSpan.Zero : TimeSpan.FromTicks((long)(smoothedRtt.Ticks * packetSize / (Window * 1.25)));
}
