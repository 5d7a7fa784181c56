using System.Numerics;

namespace Parley.Ipc;

/// <summary>
/// The consuming end of one ring. Not thread-safe: one reader at a time. A record handed out
/// stays valid until the next call to <see cref="TryRead"/> or <see cref="Release"/>.
/// </summary>
/// <remarks>
/// The tail is published lazily — every eighth of the ring, when the ring is found empty, or
/// when the producer says it is waiting for room — so in a stream the producer rarely has to
/// fetch the consumer's cache line.
/// </remarks>
internal sealed unsafe class RingReader
{
    private readonly byte* _data;
    private readonly ulong* _tail;
    private readonly int* _producerWaitingForSpace;
    private readonly int _capacity;
    private readonly int _capacityLog2;
    private readonly ulong _mask;
    private readonly ulong _publishEvery;
    private ulong _position;
    private ulong _published;
    private int _pending; // size of the record handed out, released by the next call

    public RingReader(byte* data, ulong* tail, int* producerWaitingForSpace, int capacity)
    {
        _data = data;
        _tail = tail;
        _producerWaitingForSpace = producerWaitingForSpace;
        _capacity = capacity;
        _capacityLog2 = BitOperations.Log2((uint)capacity);
        _mask = (ulong)capacity - 1;
        _publishEvery = (ulong)capacity / 8;
        MaxPayload = Ring.MaxPayload(capacity);
        _position = _published = Volatile.Read(ref *tail);
    }

    public int MaxPayload { get; }

    /// <summary>Set when publishing the tail found the producer waiting for room: the owner wakes it.</summary>
    public bool ProducerNeedsWake { get; set; }

    /// <summary>
    /// The next record, or false when the ring is empty now. Throws
    /// <see cref="IpcProtocolException"/> when the header is impossible (a corrupt length or
    /// tag): nothing outside the ring is ever read.
    /// </summary>
    public bool TryRead(out ReadOnlySpan<byte> payload)
    {
        Release();
        while (true)
        {
            int offset = (int)(_position & _mask);
            ulong header = Volatile.Read(ref *(ulong*)(_data + offset));
            if (header == 0)
            {
                Publish();
                payload = default;
                return false;
            }

            uint tag = (uint)(header >> 32);
            uint expected = Ring.Tag(_position, _capacityLog2);
            if (tag != expected)
            {
                ThrowCorrupt($"record tag {tag} at position {_position} (expected {expected})");
            }

            uint length = (uint)header;
            if (length == Ring.WrapLength)
            {
                _position += (ulong)(_capacity - offset);
                continue;
            }

            if (length > (uint)MaxPayload || offset + Ring.HeaderSize + (long)length > _capacity)
            {
                ThrowCorrupt($"record length {length} at ring offset {offset} (ring {_capacity} bytes, largest message {MaxPayload})");
            }

            payload = new ReadOnlySpan<byte>(_data + offset + Ring.HeaderSize, (int)length);
            _pending = Ring.RecordSize((int)length);
            return true;
        }
    }

    /// <summary>Whether the slot after the record handed out holds something (a record or a wrap marker).</summary>
    public bool Peek() => Volatile.Read(ref *(ulong*)(_data + (int)((_position + (ulong)_pending) & _mask))) != 0;

    /// <summary>Gives the record handed out last back to the producer.</summary>
    public void Release()
    {
        if (_pending == 0)
        {
            return;
        }

        _position += (ulong)_pending;
        _pending = 0;
        if (_position - _published >= _publishEvery || Volatile.Read(ref *_producerWaitingForSpace) != 0)
        {
            Publish();
        }
    }

    private void Publish()
    {
        if (_published == _position)
        {
            return;
        }

        _published = _position;
        Volatile.Write(ref *_tail, _position);
        ProducerNeedsWake = true;
    }

    private static void ThrowCorrupt(string what) =>
        throw new IpcProtocolException($"Corrupt shared-memory ring: {what}.");
}
