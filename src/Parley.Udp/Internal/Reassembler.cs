namespace Parley.Udp;

/// <summary>
/// Puts fragmented messages back together. Bounded: a message may declare at most
/// <c>maxMessageSize / fragmentSize</c> fragments, at most <c>maxIncomplete</c> messages are in
/// progress at once (the stalest is dropped to make room), and a message not completed within
/// <c>expiry</c> is dropped. Duplicated fragments are ignored. Not thread-safe (one per peer).
/// </summary>
internal sealed class Reassembler(int maxMessageSize, int maxIncomplete, TimeSpan expiry, TimeProvider time)
{
    private readonly Dictionary<uint, Partial> _partials = [];

    public long Expired { get; private set; }

    public long Evicted { get; private set; }

    public long Refused { get; private set; }

    /// <summary>Bytes held by incomplete messages now.</summary>
    public long BufferedBytes { get; private set; }

    public int Incomplete => _partials.Count;

    private sealed class Partial(ushort fragments, long started)
    {
        public byte[]?[] Pieces { get; } = new byte[]?[fragments];

        public int Received { get; set; }

        public long Bytes { get; set; }

        public long Started { get; } = started;
    }

    /// <summary>
    /// Adds one fragment. Returns the whole message when this fragment completed it (a
    /// single-fragment message completes at once), or null.
    /// </summary>
    public byte[]? Add(uint messageId, ushort fragment, ushort fragments, ReadOnlySpan<byte> data)
    {
        if (fragments == 1)
        {
            if (data.Length > maxMessageSize)
            {
                Refused++;
                return null;
            }

            return data.ToArray();
        }

        long now = time.GetTimestamp();
        if (!_partials.TryGetValue(messageId, out Partial? partial))
        {
            if ((long)fragments * Math.Max(1, data.Length) > (long)maxMessageSize * 2 || fragment >= fragments)
            {
                Refused++; // declares more than a maximum-size message could need
                return null;
            }

            ExpireStale(now);
            if (_partials.Count >= maxIncomplete)
            {
                EvictStalest();
            }

            partial = new Partial(fragments, now);
            _partials[messageId] = partial;
        }

        if (fragment >= partial.Pieces.Length || partial.Pieces[fragment] is not null)
        {
            return null; // out of range for this message, or a duplicate
        }

        if (partial.Bytes + data.Length > maxMessageSize)
        {
            Refused++;
            Drop(messageId, partial);
            return null;
        }

        partial.Pieces[fragment] = data.ToArray();
        partial.Received++;
        partial.Bytes += data.Length;
        BufferedBytes += data.Length;
        if (partial.Received < partial.Pieces.Length)
        {
            return null;
        }

        byte[] whole = new byte[partial.Bytes];
        int offset = 0;
        foreach (byte[]? piece in partial.Pieces)
        {
            piece!.CopyTo(whole, offset);
            offset += piece.Length;
        }

        Drop(messageId, partial);
        return whole;
    }

    /// <summary>Drops messages older than the expiry (also done on every new message).</summary>
    public void ExpireStale() => ExpireStale(time.GetTimestamp());

    private void ExpireStale(long now)
    {
        foreach ((uint id, Partial partial) in _partials)
        {
            if (time.GetElapsedTime(partial.Started, now) > expiry)
            {
                Drop(id, partial);
                Expired++;
            }
        }
    }

    private void EvictStalest()
    {
        KeyValuePair<uint, Partial> stalest = _partials.MinBy(p => p.Value.Started);
        Drop(stalest.Key, stalest.Value);
        Evicted++;
    }

    private void Drop(uint messageId, Partial partial)
    {
        _partials.Remove(messageId);
        BufferedBytes -= partial.Bytes;
    }
}
