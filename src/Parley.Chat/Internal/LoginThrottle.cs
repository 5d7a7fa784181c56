namespace Parley.Chat;

/// <summary>
/// Counts failed logins per user name; past the limit within the window, that name is
/// refused until the window has passed. Bounded: at most <see cref="MaxTracked"/> names are
/// tracked, expired ones are dropped first. Thread-safe.
/// </summary>
internal sealed class LoginThrottle(int maxFailures, TimeSpan window, TimeProvider time)
{
    private const int MaxTracked = 10_000;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, (int Failures, DateTimeOffset Since)> _failures = new(StringComparer.Ordinal);

    public bool IsThrottled(string name)
    {
        lock (_lock)
        {
            return _failures.TryGetValue(name, out var entry)
                && entry.Failures >= maxFailures
                && time.GetUtcNow() - entry.Since < window;
        }
    }

    public void RecordFailure(string name)
    {
        DateTimeOffset now = time.GetUtcNow();
        lock (_lock)
        {
            if (!_failures.TryGetValue(name, out var entry) || now - entry.Since >= window)
            {
                entry = (0, now);
            }

            if (_failures.Count >= MaxTracked && !_failures.ContainsKey(name))
            {
                foreach ((string key, var value) in _failures)
                {
                    if (now - value.Since >= window)
                    {
                        _failures.Remove(key);
                    }
                }

                if (_failures.Count >= MaxTracked)
                {
                    return; // Full of live entries: an attacker spraying names gets no extra memory.
                }
            }

            _failures[name] = (entry.Failures + 1, entry.Since);
        }
    }

    public void RecordSuccess(string name)
    {
        lock (_lock)
        {
            _failures.Remove(name);
        }
    }
}
