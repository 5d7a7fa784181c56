using System.Buffers;

namespace Parley.Udp;

/// <summary>What <see cref="Reassembler.Add"/> made of a fragment.</summary>
internal enum AssemblyResult : byte
{
    /// <summary>Kept; the message still misses fragments.</summary>
    Incomplete,

    /// <summary>This fragment completed the message.</summary>
    Complete,

    /// <summary>Already had (ignored).</summary>
    Duplicate,

    /// <summary>Refused: larger than the maximum message size, or inconsistent with earlier fragments.</summary>
    Refused,

    /// <summary>Not kept: the peer's or the host's reassembly limit is reached (a reliable sender sends it again later).</summary>
    NoRoom,
}

/// <summary>
/// Puts fragmented messages back together. Memory follows what arrived, not what a fragment
/// declares: a message in progress holds its bytes in <see cref="ChunkSize"/> chunks rented from
/// the host's <see cref="BufferStore"/> as fragments land in them (each fragment lands at
/// <c>fragment × ceil(total / fragments)</c>), and is copied into one buffer when its last
/// fragment comes; so a 52-byte datagram carrying the 1-byte last fragment of a 1 MiB message
/// costs one chunk, not 1 MiB. Bounded: a message's total length is at most the maximum message
/// size; at most <c>maxIncomplete</c> messages, and at most <c>maxReservedBytes</c> of declared
/// totals, are in progress — past either the stalest is dropped to make room
/// (<c>evictWhenFull</c>: unreliable messages) or the new one is refused (reliable ones, whose
/// fragments already received were acknowledged and will not come again, and whose declared
/// totals the receive window charges); every chunk is charged, at its rented size, against the
/// host's <see cref="ReassemblyBudget"/> through the session address's share; a message not
/// completed within <c>expiryMicros</c> is dropped (<see cref="long.MaxValue"/> for reliable
/// messages) — by <see cref="ExpireStale"/>, which the session's timer calls at
/// <see cref="NextExpiry"/>. A completed message's buffer belongs to the caller, who returns it
/// to the store. Not thread-safe (one per peer).
/// </summary>
internal sealed class Reassembler(int maxMessageSize, int maxIncomplete, long maxReservedBytes, long expiryMicros, bool evictWhenFull, ReassemblyBudget.Share budget, BufferStore buffers)
{
    /// <summary>The unit of memory a message in progress grows by: 4 KiB (a few fragments; a 1 MiB message has 256).</summary>
    public const int ChunkSize = 4096;

    private readonly Dictionary<uint, Partial> _partials = [];
    private readonly Stack<Partial> _spare = new();

    public long Expired { get; private set; }

    public long Evicted { get; private set; }

    public long Refused { get; private set; }

    /// <summary>Bytes of fragments held by incomplete messages now.</summary>
    public long BufferedBytes { get; private set; }

    /// <summary>The declared totals of incomplete messages now (what they will hold when complete).</summary>
    public long ReservedBytes { get; private set; }

    /// <summary>Bytes of chunks rented for incomplete messages now (what is charged to the host's budget).</summary>
    public long RentedBytes { get; private set; }

    /// <summary>Fragments not kept for want of room (this peer's limit, or the host's or the address's budget).</summary>
    public long NoRoom { get; private set; }

    public int Incomplete => _partials.Count;

    /// <summary>When the stalest incomplete message expires (<see cref="long.MaxValue"/>: none will).</summary>
    public long NextExpiry
    {
        get
        {
            if (expiryMicros == long.MaxValue || _partials.Count == 0)
            {
                return long.MaxValue;
            }

            long oldest = long.MaxValue;
            foreach (Partial partial in _partials.Values)
            {
                oldest = Math.Min(oldest, partial.Started);
            }

            return oldest + expiryMicros + 1;
        }
    }

    private sealed class Partial
    {
        public byte[]?[] Chunks = [];
        public byte[] Have = [];
        public int Total;
        public int ChunkCount;
        public int Fragments;
        public int Received;
        public long Bytes;
        public long Rented;
        public long Started;
    }

    /// <summary>
    /// Adds one fragment of a multi-fragment message. On <see cref="AssemblyResult.Complete"/>,
    /// <paramref name="message"/> is a pooled buffer whose first <paramref name="length"/> bytes are the message.
    /// </summary>
    public AssemblyResult Add(uint messageId, ushort fragment, ushort fragments, uint total, ReadOnlySpan<byte> data, long now, out byte[]? message, out int length)
    {
        message = null;
        length = 0;
        if (total > (uint)maxMessageSize || total > maxReservedBytes || fragments < 2 || fragment >= fragments)
        {
            Refused++;
            return AssemblyResult.Refused;
        }

        int size = MessageFrame.FragmentSize(total, fragments);
        long offset = (long)size * fragment;
        if (offset >= total || data.Length != Math.Min(size, total - offset))
        {
            Refused++;
            return AssemblyResult.Refused;
        }

        bool opened = false;
        if (!_partials.TryGetValue(messageId, out Partial? partial))
        {
            if (expiryMicros != long.MaxValue)
            {
                ExpireStale(now);
            }

            if (_partials.Count >= maxIncomplete || ReservedBytes + total > maxReservedBytes)
            {
                if (!evictWhenFull)
                {
                    NoRoom++;
                    return AssemblyResult.NoRoom;
                }

                while (_partials.Count > 0 && (_partials.Count >= maxIncomplete || ReservedBytes + total > maxReservedBytes))
                {
                    EvictStalest();
                }
            }

            partial = _spare.Count > 0 ? _spare.Pop() : new Partial();
            partial.Total = (int)total;
            partial.ChunkCount = (int)((total + ChunkSize - 1) / ChunkSize);
            partial.Chunks = ArrayPool<byte[]?>.Shared.Rent(partial.ChunkCount);
            partial.Chunks.AsSpan(0, partial.ChunkCount).Clear();
            partial.Have = ArrayPool<byte>.Shared.Rent(fragments);
            partial.Have.AsSpan(0, fragments).Clear();
            partial.Fragments = fragments;
            partial.Received = 0;
            partial.Bytes = 0;
            partial.Rented = 0;
            partial.Started = now;
            _partials[messageId] = partial;
            ReservedBytes += total;
            opened = true;
        }
        else if (partial.Total != (int)total || partial.Fragments != fragments)
        {
            Refused++;
            return AssemblyResult.Refused;
        }

        if (partial.Have[fragment] != 0)
        {
            return AssemblyResult.Duplicate;
        }

        if (!TryRentChunks(partial, offset, data.Length))
        {
            NoRoom++;
            if (opened)
            {
                Remove(messageId, partial);
            }

            return AssemblyResult.NoRoom;
        }

        partial.Have[fragment] = 1;
        Write(partial, offset, data);
        partial.Received++;
        partial.Bytes += data.Length;
        BufferedBytes += data.Length;
        if (partial.Received < partial.Fragments)
        {
            return AssemblyResult.Incomplete;
        }

        message = Gather(partial);
        length = partial.Total;
        Remove(messageId, partial);
        return AssemblyResult.Complete;
    }

    /// <summary>True when <paramref name="messageId"/> is being reassembled (some fragment of it is held).</summary>
    public bool Contains(uint messageId) => _partials.ContainsKey(messageId);

    /// <summary>True when fragment <paramref name="fragment"/> of <paramref name="messageId"/> is held.</summary>
    public bool Has(uint messageId, ushort fragment) =>
        _partials.TryGetValue(messageId, out Partial? partial) && fragment < partial.Fragments && partial.Have[fragment] != 0;

    /// <summary>Drops messages older than the expiry (the session's timer calls it at <see cref="NextExpiry"/>; also done whenever a new message starts).</summary>
    public void ExpireStale(long now)
    {
        if (_partials.Count == 0 || expiryMicros == long.MaxValue)
        {
            return;
        }

        foreach ((uint id, Partial partial) in _partials)
        {
            if (now - partial.Started > expiryMicros)
            {
                Remove(id, partial);
                Expired++;
            }
        }
    }

    /// <summary>Drops everything and keeps nothing spare (the session ended).</summary>
    public void Clear()
    {
        foreach ((uint id, Partial partial) in _partials)
        {
            Remove(id, partial);
        }

        _partials.TrimExcess();
        _spare.Clear();
    }

    // The chunks the bytes [offset, offset + length) fall in, rented and charged where missing;
    // false (nothing more rented) when the budget has no room for them.
    private bool TryRentChunks(Partial partial, long offset, int length)
    {
        int first = (int)(offset / ChunkSize);
        int last = (int)((offset + Math.Max(1, length) - 1) / ChunkSize);
        for (int i = first; i <= last; i++)
        {
            if (partial.Chunks[i] is not null)
            {
                continue;
            }

            int chunkLength = (int)Math.Min(ChunkSize, partial.Total - ((long)i * ChunkSize));
            int rented = BufferStore.SizeOf(chunkLength);
            if (!budget.TryTake(rented))
            {
                return false; // chunks rented so far stay with the message and are given back with it
            }

            partial.Chunks[i] = buffers.Rent(chunkLength);
            partial.Rented += rented;
            RentedBytes += rented;
        }

        return true;
    }

    private static void Write(Partial partial, long offset, ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            int index = (int)(offset / ChunkSize);
            int at = (int)(offset % ChunkSize);
            int count = Math.Min(data.Length, ChunkSize - at);
            data[..count].CopyTo(partial.Chunks[index].AsSpan(at));
            data = data[count..];
            offset += count;
        }
    }

    // One chunk is the message already; more are copied into one buffer (and go back with the partial).
    private byte[] Gather(Partial partial)
    {
        if (partial.ChunkCount == 1)
        {
            byte[] only = partial.Chunks[0]!;
            partial.Chunks[0] = null;
            ReturnCharge(partial, only.Length);
            return only;
        }

        byte[] whole = buffers.Rent(partial.Total);
        for (int i = 0; i < partial.ChunkCount; i++)
        {
            int chunkLength = (int)Math.Min(ChunkSize, partial.Total - ((long)i * ChunkSize));
            partial.Chunks[i].AsSpan(0, chunkLength).CopyTo(whole.AsSpan(i * ChunkSize));
        }

        return whole;
    }

    private void ReturnCharge(Partial partial, long bytes)
    {
        partial.Rented -= bytes;
        RentedBytes -= bytes;
        budget.Give(bytes);
    }

    private void EvictStalest()
    {
        uint stalestId = 0;
        Partial? stalest = null;
        foreach ((uint id, Partial partial) in _partials)
        {
            if (stalest is null || partial.Started < stalest.Started)
            {
                (stalestId, stalest) = (id, partial);
            }
        }

        if (stalest is not null)
        {
            Remove(stalestId, stalest);
            Evicted++;
        }
    }

    private void Remove(uint messageId, Partial partial)
    {
        _partials.Remove(messageId);
        BufferedBytes -= partial.Bytes;
        ReservedBytes -= partial.Total;
        for (int i = 0; i < partial.ChunkCount; i++)
        {
            if (partial.Chunks[i] is { } chunk)
            {
                buffers.Return(chunk);
            }
        }

        ReturnCharge(partial, partial.Rented);
        partial.Chunks.AsSpan(0, partial.ChunkCount).Clear();
        ArrayPool<byte[]?>.Shared.Return(partial.Chunks);
        ArrayPool<byte>.Shared.Return(partial.Have);
        partial.Chunks = [];
        partial.Have = [];
        _spare.Push(partial);
    }
}
