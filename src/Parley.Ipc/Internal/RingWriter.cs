using System.Numerics;

namespace Parley.Ipc;

/// <summary>The producing end of one ring (format in <see cref="Ring"/>). Not thread-safe: one writer at a time.</summary>
internal sealed unsafe class RingWriter
{
    private readonly byte* _data;
    private readonly ulong* _tail;
    private readonly int _capacity;
    private readonly int _capacityLog2;
    private readonly ulong _mask;
    private ulong _position;
    private ulong _cachedTail; // the consumer's position as last read: refreshed only when the ring looks full

    // A stream record needs a header, at least 8 payload bytes and the zeroed header after it.
    private const int MinStreamRecord = 3 * Ring.HeaderSize;

    public RingWriter(byte* data, ulong* tail, int capacity)
    {
        _data = data;
        _tail = tail;
        _capacity = capacity;
        _capacityLog2 = BitOperations.Log2((uint)capacity);
        _mask = (ulong)capacity - 1;
        MaxPayload = Ring.MaxPayload(capacity);
        _position = _cachedTail = Volatile.Read(ref *tail);
    }

    public int MaxPayload { get; }

    /// <summary>Bytes written since the start (records, padding and wrap markers).</summary>
    public ulong Position => _position;

    /// <summary>Appends one record, or returns false when the ring has no room for it now.</summary>
    public bool TryWrite(ReadOnlySpan<byte> payload)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(payload.Length, MaxPayload, nameof(payload)); // callers check first with a clearer message
        int need = Ring.RecordSize(payload.Length);
        int offset = (int)(_position & _mask);
        int skip = offset + need > _capacity ? _capacity - offset : 0;
        if (!HasRoom(_position + (ulong)(skip + need) + Ring.HeaderSize))
        {
            return false;
        }

        Commit(payload, offset, skip);
        return true;
    }

    /// <summary>
    /// Appends as much of <paramref name="bytes"/> as fits now as one record (a byte stream cut
    /// into records: the stream transport's path). Returns the bytes taken, 0 when full.
    /// </summary>
    public int TryWriteSome(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
        {
            return 0;
        }

        int offset = (int)(_position & _mask);
        int contiguous = _capacity - offset;
        int skip = contiguous < MinStreamRecord ? contiguous : 0; // too little left on this lap: wrap first
        long free = Free();
        if (free < skip + MinStreamRecord || free < skip + Ring.RecordSize(bytes.Length) + Ring.HeaderSize)
        {
            _cachedTail = Volatile.Read(ref *_tail);
            free = Free();
        }

        // Room for header + payload + the zeroed header after it, on one lap.
        long room = Math.Min(free - skip, skip != 0 ? _capacity : contiguous) - 2 * Ring.HeaderSize;
        int length = (int)Math.Min(Math.Min(bytes.Length, room & ~7L), MaxPayload);
        if (length <= 0)
        {
            return 0;
        }

        Commit(bytes[..length], offset, skip);
        return length;
    }

    /// <summary>Whether <see cref="TryWriteSome"/> could take at least a byte now.</summary>
    public bool CanTakeSome()
    {
        _cachedTail = Volatile.Read(ref *_tail);
        int contiguous = _capacity - (int)(_position & _mask);
        return Free() - (contiguous < MinStreamRecord ? contiguous : 0) >= MinStreamRecord;
    }

    private long Free() => _capacity - (long)(_position - _cachedTail);

    // Room has been checked for skip + record + the next header slot.
    private void Commit(ReadOnlySpan<byte> payload, int offset, int skip)
    {
        ulong position = _position + (ulong)skip;
        int start = skip != 0 ? 0 : offset;
        ulong end = position + (ulong)Ring.RecordSize(payload.Length);
        *(ulong*)(_data + (int)(end & _mask)) = 0; // where the consumer will wait next: reads "empty" until the next record
        payload.CopyTo(new Span<byte>(_data + start + Ring.HeaderSize, payload.Length));
        Volatile.Write(ref *(ulong*)(_data + start), Header(position, (uint)payload.Length));
        if (skip != 0)
        {
            // After the record at the next lap's start, so following the marker finds it complete.
            Volatile.Write(ref *(ulong*)(_data + offset), Header(_position, Ring.WrapLength));
        }

        _position = end;
    }

    private bool HasRoom(ulong end)
    {
        if (end - _cachedTail <= (ulong)_capacity)
        {
            return true;
        }

        _cachedTail = Volatile.Read(ref *_tail);
        return end - _cachedTail <= (ulong)_capacity;
    }

    private ulong Header(ulong position, uint length) => ((ulong)Ring.Tag(position, _capacityLog2) << 32) | length;
}
