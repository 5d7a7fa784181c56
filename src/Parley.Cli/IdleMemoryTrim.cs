using System.Runtime;

namespace Parley.Cli;

/// <summary>
/// Gives memory back to the system after a burst. The GC keeps what a burst (a flood of
/// connections, an attack) made it commit until enough new allocation triggers a collection,
/// and a quiet server allocates little: without help, RSS stays at the burst's level. Every
/// ten seconds this looks at the heap; when the server is quiet (under 1 MiB allocated in ten
/// seconds) and the heap holds 8 MiB more than after the last trim, it lets go of the buffers
/// <see cref="BufferPool.Shared"/> kept from the burst (up to 1 MiB per size class) and runs one
/// aggressive full collection, which compacts the heap and decommits what is free. A blocking collection of a
/// heap of tens of megabytes takes milliseconds, and it runs only when the server is quiet.
/// </summary>
internal sealed class IdleMemoryTrim : IDisposable
{
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(10);
    private const long QuietBytes = 1024 * 1024;
    private const long GrowthBytes = 8 * 1024 * 1024;

    private readonly Timer _timer;
    private long _lastAllocated = GC.GetTotalAllocatedBytes();
    private long _heapAfterTrim = GC.GetTotalMemory(forceFullCollection: false);

    public IdleMemoryTrim() => _timer = new Timer(_ => Check(), null, Period, Period);

    private void Check()
    {
        long allocated = GC.GetTotalAllocatedBytes();
        long since = allocated - _lastAllocated;
        _lastAllocated = allocated;
        if (since < QuietBytes && GC.GetTotalMemory(forceFullCollection: false) > _heapAfterTrim + GrowthBytes)
        {
            BufferPool.Shared.Trim(keepBytesPerClass: 64 * 1024);
            GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            _heapAfterTrim = GC.GetTotalMemory(forceFullCollection: false);
        }
    }

    public void Dispose() => _timer.Dispose();
}
