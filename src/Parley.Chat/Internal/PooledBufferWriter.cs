using System.Buffers;

namespace Parley.Chat;

/// <summary>
/// A growable buffer whose arrays are pooled: a large event (a page of history) borrows a large
/// array and gives it back at the next <see cref="Reset"/>, so a thread neither keeps it nor
/// allocates a fresh one on the large object heap for every large reply. Small arrays come from
/// <see cref="ArrayPool{T}.Shared"/>; large ones from a pool of this class that keeps at most
/// four of each size, so a burst of large replies leaves a few megabytes behind, not what the
/// shared pool keeps per core until its arrays go stale. One thread at a time.
/// </summary>
internal sealed class PooledBufferWriter : IBufferWriter<byte>
{
    private const int SmallSize = 1024;

    // Past this, the array goes back to the pool at the next Reset: small events need no more.
    private const int KeepSize = 64 * 1024;

    private static readonly ArrayPool<byte> s_large = ArrayPool<byte>.Create(maxArrayLength: 64 * 1024 * 1024, maxArraysPerBucket: 4);

    private byte[] _array = ArrayPool<byte>.Shared.Rent(SmallSize);
    private int _written;

    public ReadOnlySpan<byte> WrittenSpan => _array.AsSpan(0, _written);

    public void Reset()
    {
        _written = 0;
        if (_array.Length > KeepSize)
        {
            byte[] large = _array;
            _array = ArrayPool<byte>.Shared.Rent(SmallSize);
            Return(large);
        }
    }

    public void Advance(int count) => _written += count;

    public Memory<byte> GetMemory(int sizeHint = 0) => Ensure(sizeHint).AsMemory(_written);

    public Span<byte> GetSpan(int sizeHint = 0) => Ensure(sizeHint).AsSpan(_written);

    private byte[] Ensure(int sizeHint)
    {
        int needed = _written + Math.Max(sizeHint, 1);
        if (needed > _array.Length)
        {
            byte[] larger = Rent(Math.Max(needed, _array.Length * 2));
            _array.AsSpan(0, _written).CopyTo(larger);
            Return(_array);
            _array = larger;
        }

        return _array;
    }

    private static byte[] Rent(int size) => size > KeepSize ? s_large.Rent(size) : ArrayPool<byte>.Shared.Rent(size);

    private static void Return(byte[] array)
    {
        if (array.Length > KeepSize)
        {
            s_large.Return(array);
        }
        else
        {
            ArrayPool<byte>.Shared.Return(array);
        }
    }
}
