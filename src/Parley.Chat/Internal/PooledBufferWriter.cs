using System.Buffers;

namespace Parley.Chat;

/// <summary>
/// A growable buffer whose arrays are pooled: a large event (a page of history) borrows a large
/// array and gives it back at the next <see cref="Reset"/>, so a thread neither keeps it nor
/// allocates a fresh one on the large object heap for every large reply. Arrays come from
/// <see cref="BufferPool.Shared"/>, which keeps a bounded few of each size and lets them go when
/// the server is quiet (<see cref="BufferPool.Trim"/>) — unlike the shared array pool, which
/// keeps its per-core arrays until they go stale. One thread at a time.
/// </summary>
internal sealed class PooledBufferWriter : IBufferWriter<byte>, IDisposable
{
    private const int SmallSize = 1024;

    // Past this, the array goes back to the pool at the next Reset: small events need no more.
    private const int KeepSize = 64 * 1024;

    private byte[] _array = BufferPool.Shared.Rent(SmallSize);
    private int _written;

    public Span<byte> WrittenSpan => _array.AsSpan(0, _written);

    public int WrittenCount => _written;

    public void Reset()
    {
        _written = 0;
        if (_array.Length > KeepSize)
        {
            byte[] large = _array;
            _array = BufferPool.Shared.Rent(SmallSize);
            BufferPool.Shared.Return(large);
        }
    }

    public void Advance(int count) => _written += count;

    /// <summary>Gives the array back (a writer made for one reply).</summary>
    public void Dispose()
    {
        BufferPool.Shared.Return(_array);
        _array = [];
        _written = 0;
    }

    public Memory<byte> GetMemory(int sizeHint = 0) => Ensure(sizeHint).AsMemory(_written);

    public Span<byte> GetSpan(int sizeHint = 0) => Ensure(sizeHint).AsSpan(_written);

    private byte[] Ensure(int sizeHint)
    {
        int needed = _written + Math.Max(sizeHint, 1);
        if (needed > _array.Length)
        {
            byte[] larger = BufferPool.Shared.Rent(Math.Max(needed, _array.Length * 2));
            _array.AsSpan(0, _written).CopyTo(larger);
            BufferPool.Shared.Return(_array);
            _array = larger;
        }

        return _array;
    }
}
