namespace Parley.Chat;

/// <summary>
/// Runs password checks (PBKDF2: tens of milliseconds of CPU each) on a small bounded pool:
/// at most <c>concurrency</c> at once, at most <c>maxQueued</c> waiting, and at most
/// <c>perAddress</c> running or waiting for one address. A check that would pass a bound is
/// refused at once (the client is told to retry), so a crowd spraying passwords costs at most
/// <c>concurrency</c> cores and cannot queue up work that delays everyone else's logins.
/// Thread-safe.
/// </summary>
#pragma warning disable CA1001 // SemaphoreSlim owns a kernel handle only once AvailableWaitHandle is read; this one never is.
internal sealed class PasswordChecks(int concurrency, int maxQueued, int perAddress)
#pragma warning restore CA1001
{
    private readonly SemaphoreSlim _slots = new(concurrency);
    private readonly Lock _lock = new();
    private readonly Dictionary<string, int> _perAddress = new(StringComparer.Ordinal);
    private int _admitted;

    /// <summary>Runs <paramref name="check"/> in turn; null when it was refused for load (no work done).</summary>
    public async Task<bool?> VerifyAsync(string address, Func<bool> check, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _perAddress.TryGetValue(address, out int mine);
            if (mine >= perAddress || _admitted >= concurrency + maxQueued)
            {
                return null;
            }

            _perAddress[address] = mine + 1;
            _admitted++;
        }

        try
        {
            await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                // On the thread pool, never on the connection's receive path; the slots bound it.
                return await Task.Run(check, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _slots.Release();
            }
        }
        finally
        {
            lock (_lock)
            {
                _admitted--;
                if (_perAddress[address] <= 1)
                {
                    _perAddress.Remove(address);
                }
                else
                {
                    _perAddress[address]--;
                }
            }
        }
    }
}
