namespace Parley;

/// <summary>
/// A token bucket for log lines that peers can provoke (refused connections, bad input): at
/// most a burst at once and a steady rate after that, so a flood of bad peers cannot flood the
/// log or slow everyone down with logging. The lines held back are counted and reported with
/// the next one let through.
/// </summary>
/// <remarks>Thread-safe. One limiter is meant to serve a whole server.</remarks>
internal sealed class LogRateLimiter
{
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private readonly double _perSecond;
    private readonly int _burst;
    private double _tokens;
    private long _lastRefill;
    private long _suppressed;

    /// <summary>Creates a limiter.</summary>
    /// <param name="time">The clock.</param>
    /// <param name="perSecond">Lines a second, sustained. Default 10.</param>
    /// <param name="burst">Lines at once after a quiet spell. Default 20.</param>
    public LogRateLimiter(TimeProvider time, double perSecond = 10, int burst = 20)
    {
        ArgumentNullException.ThrowIfNull(time);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(perSecond);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(burst);
        _time = time;
        _perSecond = perSecond;
        _burst = burst;
        _tokens = burst;
        _lastRefill = time.GetTimestamp();
    }

    /// <summary>True when a line may be written now; <paramref name="suppressed"/> is how many were held back since the last one let through.</summary>
    public bool TryTake(out long suppressed)
    {
        lock (_lock)
        {
            long now = _time.GetTimestamp();
            _tokens = Math.Min(_burst, _tokens + (_time.GetElapsedTime(_lastRefill, now).TotalSeconds * _perSecond));
            _lastRefill = now;
            if (_tokens < 1)
            {
                _suppressed++;
                suppressed = 0;
                return false;
            }

            _tokens -= 1;
            suppressed = _suppressed;
            _suppressed = 0;
            return true;
        }
    }
}
