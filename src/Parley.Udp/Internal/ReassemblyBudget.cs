namespace Parley.Udp;

/// <summary>
/// The bytes a host's reassemblies (every peer's, reliable and unreliable) may hold at once:
/// each message in reassembly takes its declared total at its first fragment and gives it back
/// when it completes, expires or its session ends. Not thread-safe (the host's lock).
/// </summary>
internal sealed class ReassemblyBudget(long maxBytes)
{
    public long MaxBytes { get; } = maxBytes;

    public long UsedBytes { get; private set; }

    /// <summary>Messages refused because the budget was spent.</summary>
    public long Refusals { get; private set; }

    public bool TryTake(long bytes)
    {
        if (UsedBytes + bytes > MaxBytes)
        {
            Refusals++;
            return false;
        }

        UsedBytes += bytes;
        return true;
    }

    public void Give(long bytes) => UsedBytes -= bytes;
}
