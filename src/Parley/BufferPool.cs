using System.Buffers;
using System.Numerics;

namespace Parley;

/// <summary>
/// The byte-array pool behind every Parley buffer: receive segments, outbound frames and
/// merged writes. Arrays up to 1 MiB come from power-of-two size classes kept here, each
/// capped at about <see cref="MaxRetainedBytesPerClass"/> (at least 16 arrays up to 64 KiB, at
/// least 2 above); larger ones come from <see cref="ArrayPool{T}.Shared"/>. What a class keeps
/// can be let go with <see cref="Trim"/> when the application is quiet. Outstanding arrays are
/// counted, so a leak is a number a test can assert on.
/// </summary>
/// <remarks>
/// Why not only <see cref="ArrayPool{T}.Shared"/>: frames are rented on one thread (a
/// receive loop or broadcaster) and returned on another (a send loop) in bursts of dozens;
/// the shared pool's small per-core stacks overflow on such bursts and the next rents
/// allocate. Measured: 8 bytes per echoed message with it, none with these classes.
/// Thread-safe. Use <see cref="Shared"/> in applications; tests create their own instance and
/// check <see cref="Outstanding"/> is zero once everything is closed.
/// </remarks>
public sealed class BufferPool
{
    /// <summary>Bytes each size class keeps for reuse at most: 1 MiB (2 MiB for the 1 MiB class),
    /// so the pool as a whole retains at most about 16 MiB however large a burst was.</summary>
    public const int MaxRetainedBytesPerClass = 1024 * 1024;

    private const int MinShift = 6; // 64 B
    private const int MaxShift = 20; // 1 MiB
    private const int SmallShift = 16; // up to 64 KiB a class keeps at least 16 arrays
    private const int LargestPooled = 1 << MaxShift;

    private readonly SizeClass[] _classes;
    private long _rented;
    private long _returned;
    private long _outstandingBytes;
    private Internal.PipeMemoryPool? _pipePool;

    /// <summary>Creates an empty pool.</summary>
    public BufferPool()
    {
        _classes = new SizeClass[MaxShift - MinShift + 1];
        for (int i = 0; i < _classes.Length; i++)
        {
            int size = 1 << (MinShift + i);
            _classes[i] = new SizeClass(size, Math.Max(MinShift + i <= SmallShift ? 16 : 2, MaxRetainedBytesPerClass / size));
        }
    }

    /// <summary>The process-wide pool used when an option does not name another.</summary>
    public static BufferPool Shared { get; } = new();

    /// <summary>Arrays rented and not yet returned.</summary>
    public long Outstanding => Volatile.Read(ref _rented) - Volatile.Read(ref _returned);

    /// <summary>Bytes in arrays rented and not yet returned (array lengths, not requested lengths).</summary>
    public long OutstandingBytes => Volatile.Read(ref _outstandingBytes);

    /// <summary>Total arrays ever rented.</summary>
    public long TotalRented => Volatile.Read(ref _rented);

    /// <summary>This pool as the <see cref="MemoryPool{T}"/> that receive pipes rent segments from.</summary>
    internal MemoryPool<byte> PipePool
    {
        get
        {
            if (_pipePool is null)
            {
                Interlocked.CompareExchange(ref _pipePool, new Internal.PipeMemoryPool(this), null);
            }

            return _pipePool;
        }
    }

    /// <summary>Rents an array of at least <paramref name="minimumLength"/> bytes.</summary>
    public byte[] Rent(int minimumLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(minimumLength);
        byte[] array = minimumLength <= LargestPooled
            ? _classes[ClassIndex(minimumLength)].Rent()
            : ArrayPool<byte>.Shared.Rent(minimumLength);
        Interlocked.Increment(ref _rented);
        Interlocked.Add(ref _outstandingBytes, array.Length);
        return array;
    }

    /// <summary>Returns an array rented from this pool. The caller must not touch it afterwards.</summary>
    public void Return(byte[] array)
    {
        ArgumentNullException.ThrowIfNull(array);
        Interlocked.Increment(ref _returned);
        Interlocked.Add(ref _outstandingBytes, -array.Length);
        if (array.Length <= LargestPooled)
        {
            _classes[ClassIndex(array.Length)].Return(array);
        }
        else
        {
            ArrayPool<byte>.Shared.Return(array);
        }
    }

    /// <summary>
    /// Lets the size class that serves <paramref name="length"/>-byte rents keep
    /// <paramref name="count"/> more arrays (fewer when negative) on top of its own cap. An open
    /// connection reserves one receive segment this way: a busy connection holds a segment
    /// between reads whenever a read ends inside a frame, so a thousand busy connections need
    /// about a thousand segments at once, and a class capped at 1 MiB (128 segments of 8 KiB)
    /// would allocate and drop the rest on every read. Only arrays that were rented and returned
    /// are kept, so the pool never holds more than the connections held at their peak; when a
    /// reservation is withdrawn, arrays over the new cap are let go.
    /// </summary>
    internal void AdjustRetention(int length, int count)
    {
        if (length <= LargestPooled)
        {
            _classes[ClassIndex(length)].AdjustCapacity(count);
        }
    }

    /// <summary>Bytes in arrays kept for reuse now (not rented).</summary>
    public long RetainedBytes => _classes.Sum(c => c.RetainedBytes);

    /// <summary>
    /// Lets the GC have the arrays kept for reuse beyond <paramref name="keepBytesPerClass"/> per
    /// size class: after a burst, a quiet server need not hold the burst's buffers (up to 1 MiB per
    /// class). Rented arrays are not affected. Returns the bytes released.
    /// </summary>
    public long Trim(int keepBytesPerClass = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(keepBytesPerClass);
        long released = 0;
        foreach (SizeClass sizeClass in _classes)
        {
            released += sizeClass.Trim(keepBytesPerClass);
        }

        return released;
    }

    private static int ClassIndex(int length) =>
        length <= (1 << MinShift) ? 0 : BitOperations.Log2((uint)length - 1) + 1 - MinShift;

    /// <summary>One size: bounded per-core stacks (<see cref="Internal.PerCoreStack{T}"/>), each
    /// under a lock held for one push or pop, so rents and returns on different cores do not
    /// contend. Its cap is its own share of <see cref="MaxRetainedBytesPerClass"/> plus what open
    /// connections reserved (<see cref="AdjustRetention"/>); storage grows only as arrays come back.</summary>
    private sealed class SizeClass(int size, int baseCapacity)
    {
        private readonly Internal.PerCoreStack<byte[]> _items = new(baseCapacity);
        private readonly Lock _reserving = new();
        private int _reserved;

        public void AdjustCapacity(int count)
        {
            lock (_reserving)
            {
                _reserved = Math.Max(0, _reserved + count);
                _items.SetCapacity(baseCapacity + _reserved);
            }
        }

        public byte[] Rent() => _items.TryPop() ?? GC.AllocateUninitializedArray<byte>(size);

        public long RetainedBytes => (long)_items.Count * size;

        public long Trim(int keepBytes) => (long)_items.Trim(keepBytes / size) * size;

        public void Return(byte[] array)
        {
            if (array.Length != size)
            {
                // Not one of ours (a caller mixed pools): let the GC have it.
                return;
            }

            _items.TryPush(array);
        }
    }
}
