namespace Parley.Chat;

/// <summary>
/// A room's recent history as the encoded bytes a <c>history</c> event carries — each message
/// the object <c>{"u":…,"c":…,"id":…,"t":…}</c>, the same bytes its live <c>user_message</c> was
/// built from — in one byte ring with an index of ids, offsets and lengths: no object per message.
/// </summary>
/// <remarks>
/// <para>Bounded by a byte budget, counted as a <c>history</c> event sends the messages (each
/// object and a comma): adding drops the oldest until the new one fits, but the newest is always
/// kept. The ring's array grows on demand (rooms that are never written hold nothing) to at most
/// the budget plus the largest message it has held: with that slack a message that fits the
/// budget always finds contiguous room, whatever the wrap left unused at the end.</para>
/// <para>Not thread-safe: the room serialises access.</para>
/// </remarks>
internal sealed class HistoryRing(long budget)
{
    private const int MinBytes = 1024;
    private const int MinEntries = 16;

    private byte[] _bytes = [];
    private Entry[] _entries = [];
    private int _first; // index of the oldest entry in _entries
    private int _count;
    private int _end; // where the newest entry ends in _bytes: the next write goes here, or wraps to 0
    private long _budgetUsed; // Σ (length + 1)
    private int _largest;

    private readonly record struct Entry(long Id, int Offset, int Length);

    /// <summary>Messages kept.</summary>
    public int Count => _count;

    /// <summary>The bytes the kept messages take in <c>history</c> events (each with its comma).</summary>
    public long UsedBytes => _budgetUsed;

    /// <summary>The memory the ring holds: its byte array and its index.</summary>
    public long HeldBytes => _bytes.LongLength + (_entries.LongLength * 16);

    /// <summary>Keeps <paramref name="message"/> (a <c>history</c> entry object) as the newest, with id <paramref name="id"/>
    /// (ids only grow), dropping the oldest past the budget.</summary>
    public void Add(long id, ReadOnlySpan<byte> message)
    {
        int length = message.Length;
        while (_count > 0 && _budgetUsed + length + 1 > budget)
        {
            DropOldest();
        }

        _largest = Math.Max(_largest, length);
        if (!TryPlace(length, out int offset))
        {
            Grow(length);
            offset = _end; // linear after growing: room at the end
        }

        message.CopyTo(_bytes.AsSpan(offset));
        if (_count == _entries.Length)
        {
            GrowIndex();
        }

        _entries[(_first + _count) % _entries.Length] = new Entry(id, offset, length);
        _count++;
        _end = offset + length;
        _budgetUsed += length + 1;
    }

    /// <summary>Forgets everything and lets the arrays go.</summary>
    public void Clear()
    {
        _bytes = [];
        _entries = [];
        _first = _count = _end = 0;
        _budgetUsed = 0;
    }

    /// <summary>
    /// Chooses the page a <c>history</c> command gets: up to <paramref name="limit"/> of the
    /// newest messages with an id below <paramref name="before"/>, at most
    /// <paramref name="maxBytes"/> of them (each with its comma; always one when there is one).
    /// Returns the index of the page's oldest message (for <see cref="Message"/>) and its count;
    /// <paramref name="more"/> says whether older ones are kept.
    /// </summary>
    public (int First, int Count) Page(long before, int limit, long maxBytes, out bool more)
    {
        // Ids grow from oldest to newest: skip the newest ones at or past 'before'.
        int newest = _count - 1;
        while (newest >= 0 && At(newest).Id >= before)
        {
            newest--;
        }

        int taken = 0;
        long bytes = 0;
        int i = newest;
        for (; i >= 0 && taken < limit; i--)
        {
            bytes += At(i).Length + 1;
            if (taken > 0 && bytes > maxBytes)
            {
                break;
            }

            taken++;
        }

        more = i >= 0;
        return (newest - taken + 1, taken);
    }

    /// <summary>The <paramref name="index"/>-th kept message, oldest first.</summary>
    public ReadOnlySpan<byte> Message(int index)
    {
        Entry entry = At(index);
        return _bytes.AsSpan(entry.Offset, entry.Length);
    }

    /// <summary>The <paramref name="index"/>-th kept message's id, oldest first.</summary>
    public long Id(int index) => At(index).Id;

    private Entry At(int index) => _entries[(_first + index) % _entries.Length];

    private void DropOldest()
    {
        _budgetUsed -= _entries[_first].Length + 1;
        _first = (_first + 1) % _entries.Length;
        _count--;
        if (_count == 0)
        {
            _first = 0;
            _end = 0;
        }
    }

    /// <summary>Finds <paramref name="length"/> contiguous free bytes after the newest message, at the end or wrapping to the start.</summary>
    private bool TryPlace(int length, out int offset)
    {
        offset = 0;
        if (_count == 0)
        {
            return length <= _bytes.Length;
        }

        int oldest = _entries[_first].Offset;
        if (oldest < _end)
        {
            // Not wrapped: [oldest, _end) is taken.
            if (_bytes.Length - _end >= length)
            {
                offset = _end;
                return true;
            }

            return oldest >= length; // wrap: offset 0
        }

        // Wrapped: [oldest, array end) and [0, _end) are taken.
        offset = _end;
        return oldest - _end >= length;
    }

    /// <summary>A larger array (or, at the limit, the same size) with the kept messages moved to its start in order.</summary>
    private void Grow(int length)
    {
        long used = 0;
        for (int i = 0; i < _count; i++)
        {
            used += At(i).Length;
        }

        // Past the budget, room only for the slack (a message needs more only when it is kept alone).
        long limit = budget + _largest;
        long size = Math.Max(used + length, Math.Min(limit, Math.Max(MinBytes, _bytes.LongLength * 2)));
        byte[] bytes = new byte[checked((int)size)];
        int offset = 0;
        for (int i = 0; i < _count; i++)
        {
            int slot = (_first + i) % _entries.Length;
            Entry entry = _entries[slot];
            _bytes.AsSpan(entry.Offset, entry.Length).CopyTo(bytes.AsSpan(offset));
            _entries[slot] = entry with { Offset = offset };
            offset += entry.Length;
        }

        _bytes = bytes;
        _end = offset;
    }

    private void GrowIndex()
    {
        var entries = new Entry[Math.Max(MinEntries, _entries.Length * 2)];
        for (int i = 0; i < _count; i++)
        {
            entries[i] = At(i);
        }

        _entries = entries;
        _first = 0;
    }
}
