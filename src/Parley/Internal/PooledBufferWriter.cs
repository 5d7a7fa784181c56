using System.Buffers;

namespace Parley.Internal;

/// <summary>An <see cref="IBufferWriter{T}"/> over one growing array from a <see cref="BufferPool"/>; dispose to return it.</summary>
internal sealed class PooledBufferWriter(BufferPool pool, int initialCapacity) : IBufferWriter<byte>, IDisposable
{
    private byte[] _buffer = pool.Rent(Math.Max(64, initialCapacity));
    private int _written;

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _written);

    public ReadOnlySequence<byte> WrittenSequence => new(_buffer, 0, _written);

    public void Advance(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, _buffer.Length - _written);
        _written += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsSpan(_written);
    }

    private void Ensure(int sizeHint)
    {
        int needed = _written + Math.Max(sizeHint, 1);
        if (needed <= _buffer.Length)
        {
            return;
        }

        byte[] larger = pool.Rent(Math.Max(needed, _buffer.Length * 2));
        _buffer.AsSpan(0, _written).CopyTo(larger);
        pool.Return(_buffer);
        _buffer = larger;
    }

    public void Dispose()
    {
        if (_buffer.Length > 0)
        {
            pool.Return(_buffer);
            _buffer = [];
        }
    }
}
