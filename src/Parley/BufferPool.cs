using System.Buffers;

namespace Parley;

/// <summary>
/// The byte-array pool behind every Parley buffer: receive segments and outbound frames.
/// It rents from <see cref="ArrayPool{T}.Shared"/> (per-core, capped, trimmed under memory
/// pressure) and counts what is outstanding, so a leak is a number a test can assert on.
/// </summary>
/// <remarks>
/// Thread-safe. Use <see cref="Shared"/> in applications; tests create their own instance and
/// check <see cref="Outstanding"/> is zero once everything is closed.
/// </remarks>
public sealed class BufferPool
{
    private long _rented;
    private long _returned;
    private long _outstandingBytes;
    private Internal.PipeMemoryPool? _pipePool;

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
        byte[] array = ArrayPool<byte>.Shared.Rent(minimumLength);
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
        ArrayPool<byte>.Shared.Return(array);
    }
}
