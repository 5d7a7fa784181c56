namespace Parley.Udp;

/// <summary>
/// Spreads a session's congestion window over its smoothed round trip: a token bucket refilled at
/// 1.25 × window per smoothed RTT, holding at most ten packets or a millisecond's worth, whichever
/// is more. Before the first RTT sample nothing is paced. When the bucket holds less than a
/// packet, <see cref="NextAt"/> says when it will hold one (the session's timer wakes it then).
/// Not thread-safe (the host's lock).
/// </summary>
internal sealed class Pacer
{
    private double _tokens;
    private long _updatedAt;

    /// <summary>When pacing next lets a packet go (0: pacing is not what holds data back).</summary>
    public long NextAt { get; private set; }

    /// <summary>The session came up at <paramref name="now"/>: the bucket fills from here.</summary>
    public void Start(long now) => _updatedAt = now;

    /// <summary>A flush begins: whatever held data back last time is looked at again.</summary>
    public void ClearWait() => NextAt = 0;

    /// <summary>True when a packet of <paramref name="packetSize"/> bytes may go at <paramref name="now"/>.</summary>
    public bool Allows(long now, long window, RttEstimator rtt, int packetSize)
    {
        if (!rtt.HasSample || rtt.SmoothedRtt <= TimeSpan.Zero)
        {
            return true;
        }

        double rate = window * 1.25 / Math.Max(1, rtt.SmoothedRtt.TotalMicroseconds); // bytes per µs
        double burst = Math.Max(10.0 * packetSize, rate * 1000);
        _tokens = Math.Min(burst, _tokens + ((now - _updatedAt) * rate));
        _updatedAt = now;
        if (_tokens >= packetSize)
        {
            NextAt = 0;
            return true;
        }

        NextAt = now + (long)Math.Ceiling((packetSize - _tokens) / rate);
        return false;
    }

    /// <summary>An ack-eliciting packet of <paramref name="bytes"/> went out.</summary>
    public void OnSent(int bytes) => _tokens -= bytes;
}
