namespace Parley.Udp;

/// <summary>
/// Loss-based congestion control (NewReno-style AIMD, RFC 9002 §7 in spirit): slow start
/// doubles the window each round trip until the first loss; then the window grows by one packet
/// per round trip and halves on a loss, at most once per recovery period (losses of packets sent
/// before the last reduction do not reduce it again). The window never falls below two packets.
/// A pacing interval spreads a window over a round trip instead of sending it in one burst.
/// Not thread-safe (one per peer).
/// </summary>
internal sealed class CongestionController(int maxPacketSize, int initialPackets = 10)
{
    private readonly int _minimumWindow = 2 * maxPacketSize;
    private long _recoveryStartPacket = -1;

    public long Window { get; private set; } = (long)initialPackets * maxPacketSize;

    public long SlowStartThreshold { get; private set; } = long.MaxValue;

    public long BytesInFlight { get; private set; }

    public bool InSlowStart => Window < SlowStartThreshold;

    /// <summary>True when <paramref name="bytes"/> more may be sent now.</summary>
    public bool CanSend(int bytes) => BytesInFlight + bytes <= Window;

    public void OnSent(int bytes) => BytesInFlight += bytes;

    /// <summary>A packet of <paramref name="bytes"/> was acknowledged.</summary>
    public void OnAcked(long packetNumber, int bytes)
    {
        BytesInFlight = Math.Max(0, BytesInFlight - bytes);
        if (packetNumber <= _recoveryStartPacket)
        {
            return; // sent before the last reduction: no growth during recovery
        }

        Window += InSlowStart ? bytes : Math.Max(1, (long)maxPacketSize * bytes / Window);
    }

    /// <summary>A packet was declared lost; <paramref name="largestSentPacket"/> marks the new recovery period.</summary>
    public void OnLost(long packetNumber, int bytes, long largestSentPacket)
    {
        BytesInFlight = Math.Max(0, BytesInFlight - bytes);
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
