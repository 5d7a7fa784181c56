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

    /// <summary>Not kept: a new message while the peer's or the host's reassembly limit is reached (a reliable sender sends it again later).</summary>
    NoRoom,
}

/// <summary>
/// Puts fragmented messages back together in one pooled buffer per message (each fragment lands
/// at <c>fragment × ceil(total / fragments)</c>). Bounded: a message's total length is at most the
/// maximum message size; at most <c>maxIncomplete</c> messages are in progress — past it the
/// stalest is dropped to make room (<c>evictWhenFull</c>: unreliable messages) or the new one is
/// refused (reliable ones, whose fragments already received were acknowledged and will not come
/// again); every message in progress holds its declared total against the host's
/// <see cref="ReassemblyBudget"/>; a message not completed within <c>expiryMicros</c> is dropped
/// (<see cref="long.MaxValue"/> for reliable messages, which the window charges in full instead).
/// Message buffers come from the host's <see cref="BufferStore"/>; a completed message's buffer
/// belongs to the caller, who returns it there. Not thread-safe (one per peer).
/// </summary>
internal sealed class Reassembler(int maxMessageSize, int maxIncomplete, long expiryMicros, bool evictWhenFull, ReassemblyBudget budget, BufferStore buffers)
{
    private readonly Dictionary<uint, Partial> _partials = [];
    private readonly Stack<Partial> _spare = new();

    public long Expired { get; private set; }

    public long Evicted { get; private set; }

    public long Refused { get; private set; }

    /// <summary>Bytes of fragments held by incomplete messages now.</summary>
    public long BufferedBytes { get; private set; }

    /// <summary>Bytes reserved for incomplete messages now: their declared totals (what their buffers hold room for).</summary>
    public long ReservedBytes { get; private set; }

    /// <summary>New messages not kept for want of room (this peer's limit or the host's budget).</summary>
    public long NoRoom { get; private set; }

    public int Incomplete => _partials.Count;

    private sealed class Partial
    {
        public byte[] Buffer = [];
        public byte[] Have = [];
        public int Total;
        public int Fragments;
        public int Received;
        public long Bytes;
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
        if (total > (uint)maxMessageSize || fragments < 2 || fragment >= fragments)
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

        if (!_partials.TryGetValue(messageId, out Partial? partial))
        {
            if (expiryMicros != long.MaxValue)
            {
                ExpireStale(now);
            }

            if (_partials.Count >= maxIncomplete)
            {
                if (!evictWhenFull)
                {
                    NoRoom++;
                    return AssemblyResult.NoRoom;
                }

                EvictStalest();
            }

            if (!budget.TryTake(total))
            {
                NoRoom++;
                return AssemblyResult.NoRoom;
            }

            ReservedBytes += total;
            partial = _spare.Count > 0 ? _spare.Pop() : new Partial();
            partial.Buffer = buffers.Rent((int)total);
            partial.Have = ArrayPool<byte>.Shared.Rent(fragments);
            partial.Have.AsSpan(0, fragments).Clear();
            partial.Total = (int)total;
            partial.Fragments = fragments;
            partial.Received = 0;
            partial.Bytes = 0;
            partial.Started = now;
            _partials[messageId] = partial;
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

        partial.Have[fragment] = 1;
        data.CopyTo(partial.Buffer.AsSpan((int)offset));
        partial.Received++;
        partial.Bytes += data.Length;
        BufferedBytes += data.Length;
        if (partial.Received < partial.Fragments)
        {
            return AssemblyResult.Incomplete;
        }

        message = partial.Buffer;
        length = partial.Total;
        partial.Buffer = [];
        Remove(messageId, partial);
        return AssemblyResult.Complete;
    }

    /// <summary>True when <paramref name="messageId"/> is being reassembled (some fragment of it is held).</summary>
    public bool Contains(uint messageId) => _partials.ContainsKey(messageId);

    /// <summary>True when fragment <paramref name="fragment"/> of <paramref name="messageId"/> is held.</summary>
    public bool Has(uint messageId, ushort fragment) =>
        _partials.TryGetValue(messageId, out Partial? partial) && fragment < partial.Fragments && partial.Have[fragment] != 0;

    /// <summary>Drops messages older than the expiry (also done whenever a new message starts).</summary>
    public void ExpireStale(long now)
    {
        if (_partials.Count == 0)
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
        budget.Give(partial.Total);
        if (partial.Buffer.Length > 0)
        {
            buffers.Return(partial.Buffer);
        }

        ArrayPool<byte>.Shared.Return(partial.Have);
        partial.Buffer = [];
        partial.Have = [];
        _spare.Push(partial);
    }
}
