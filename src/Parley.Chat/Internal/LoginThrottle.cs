namespace Parley.Chat;

/// <summary>
/// Counts failed logins per address and name, and per address: past the limit within the
/// window, that address is refused for that name (or, past four times the limit, for every
/// name) until the window has passed. Failures from one address never lock out the same name
/// from another, so an attacker cannot lock the owner out. Bounded: at most
/// <see cref="MaxTracked"/> entries, expired ones dropped first, then the oldest. Thread-safe.
/// </summary>
internal sealed class LoginThrottle(int maxFailures, TimeSpan window, TimeProvider time)
{
    private const int MaxTracked = 10_000;

    // An address spraying names is throttled for every name after this many times the per-name limit.
    private const int AddressFactor = 4;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, (int Failures, DateTimeOffset Since)> _failures = new(StringComparer.Ordinal);

    public bool IsThrottled(string address, string name)
    {
        DateTimeOffset now = time.GetUtcNow();
        lock (_lock)
        {
            return Over(PairKey(address, name), maxFailures, now) || Over(address, maxFailures * AddressFactor, now);
        }
    }

    public void RecordFailure(string address, string name)
    {
        DateTimeOffset now = time.GetUtcNow();
        lock (_lock)
        {
            Count(PairKey(address, name), now);
            Count(address, now);
        }
    }

    public void RecordSuccess(string address, string name)
    {
        lock (_lock)
        {
            _failures.Remove(PairKey(address, name));
        }
    }

    // A name holds no newline (names are letters, digits, '-', '_', '.'), so the key is unambiguous.
    private static string PairKey(string address, string name) => address + "\n" + name;

    private bool Over(string key, int limit, DateTimeOffset now) =>
        _failures.TryGetValue(key, out var entry) && entry.Failures >= limit && now - entry.Since < window;

    private void Count(string key, DateTimeOffset now)
    {
        if (!_failures.TryGetValue(key, out var entry) || now - entry.Since >= window)
        {
            entry = (0, now);
        }

        if (_failures.Count >= MaxTracked && !_failures.ContainsKey(key))
        {
            foreach ((string stale, var value) in _failures)
            {
                if (now - value.Since >= window)
                {
                    _failures.Remove(stale);
                }
            }

            if (_failures.Count >= MaxTracked)
            {
                // Full of live entries: the oldest makes room, so counting never stops (and an
                // attacker spraying names still gets no extra memory).
                string oldest = _failures.MinBy(entry => entry.Value.Since).Key;
                _failures.Remove(oldest);
            }
        }

        _failures[key] = (entry.Failures + 1, entry.Since);
    }
}
