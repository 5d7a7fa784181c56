namespace Parley.Chat;

/// <summary>
/// A token bucket for log lines that peers can provoke (bad input, unexpected failures): at
/// most <c>burst</c> lines at once and <c>perSecond</c> sustained for the whole server, so a
/// flood of bad lines cannot flood the log or slow everyone with logging. The lines it holds
/// back are counted and reported with the next one let through. Thread-safe.
/// </summary>
internal sealed class LogLimiter(TimeProvider time, int perSecond = 10, int burst = 20)
{
    private readonly Lock _lock = new();
    private double _tokens = burst;
    private long _lastRefill = time.GetTimestamp();
    private long _suppressed;

    /// <summary>True when a line may be written now; <paramref name="suppressed"/> is how many were held back since the last one.</summary>
    public bool TryTake(out long suppressed)
    {
        lock (_lock)
        {
            long now = time.GetTimestamp();
            _tokens = Math.Min(burst, _tokens + (time.GetElapsedTime(_lastRefill, now).TotalSeconds * perSecond));
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
