namespace Parley.Chat;

/// <summary>
/// A room: its sessions (a broadcast group), how many sessions each user has in it (for the
/// first-joins/last-leaves rule), and the recent history: the newest messages, at most
/// <paramref name="historyCapacity"/> of them and at most <paramref name="historyBytes"/> as a
/// <c>history</c> event sends them (the newest one is always kept). Thread-safe.
/// </summary>
internal sealed class Room(RoomDefinition definition, MessageFramer framer, int historyCapacity, long historyBytes)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, int> _sessionsPerUser = new(StringComparer.Ordinal);
    private readonly HistoryEntry?[] _history = new HistoryEntry?[historyCapacity];
    private int _historyHead; // next slot to write
    private int _historyCount;
    private long _historyBytes;

    public string Name => definition.Name;

    /// <summary>See <see cref="Events.UserMessageEnvelope"/>: measured once per room.</summary>
    public int UserMessageEnvelope { get; } = Events.UserMessageEnvelope(definition.Name);

    public string Description => definition.Description;

    public ConnectionGroup Group { get; } = new(definition.Name, framer);

    public int UserCount
    {
        get
        {
            lock (_lock)
            {
                return _sessionsPerUser.Count;
            }
        }
    }

    /// <summary>Adds a session; true when it is the user's first in this room.</summary>
    public bool Join(Connection connection, string user)
    {
        lock (_lock)
        {
            Group.Add(connection);
            _sessionsPerUser.TryGetValue(user, out int count);
            _sessionsPerUser[user] = count + 1;
            return count == 0;
        }
    }

    /// <summary>Removes a session; true when it was the user's last in this room.</summary>
    public bool Leave(Connection connection, string user)
    {
        lock (_lock)
        {
            Group.Remove(connection);
            if (!_sessionsPerUser.TryGetValue(user, out int count))
            {
                return false;
            }

            if (count <= 1)
            {
                _sessionsPerUser.Remove(user);
                return true;
            }

            _sessionsPerUser[user] = count - 1;
            return false;
        }
    }

    public string[] Users()
    {
        lock (_lock)
        {
            string[] users = [.. _sessionsPerUser.Keys];
            Array.Sort(users, StringComparer.Ordinal);
            return users;
        }
    }

    /// <summary>The bytes the kept history takes as <c>history</c> events send it.</summary>
    public long HistoryBytes
    {
        get
        {
            lock (_lock)
            {
                return _historyBytes;
            }
        }
    }

    /// <summary>Messages kept for <c>history</c>.</summary>
    public int HistoryCount
    {
        get
        {
            lock (_lock)
            {
                return _historyCount;
            }
        }
    }

    public void AddHistory(HistoryEntry entry)
    {
        int size = entry.EncodedSize; // known from the delivery's encoding, or measured here, outside the lock
        long delta;
        lock (_lock)
        {
            long before = _historyBytes;
            if (_historyCount == _history.Length)
            {
                DropOldest();
            }

            _history[_historyHead] = entry;
            _historyHead = (_historyHead + 1) % _history.Length;
            _historyCount++;
            _historyBytes += size;
            while (_historyBytes > historyBytes && _historyCount > 1)
            {
                DropOldest();
            }

            delta = _historyBytes - before;
        }

        ChatMetrics.HistoryBytes.Add(delta);
    }

    /// <summary>Forgets the kept history (the server is closing).</summary>
    public void ClearHistory()
    {
        long bytes;
        lock (_lock)
        {
            bytes = _historyBytes;
            Array.Clear(_history);
            _historyCount = 0;
            _historyBytes = 0;
        }

        ChatMetrics.HistoryBytes.Add(-bytes);
    }

    private void DropOldest()
    {
        int oldest = (_historyHead - _historyCount + _history.Length) % _history.Length;
        _historyBytes -= _history[oldest]!.EncodedSize;
        _history[oldest] = null;
        _historyCount--;
    }

    /// <summary>Up to <paramref name="limit"/> newest messages with an id below <paramref name="before"/>, oldest first,
    /// taking at most <paramref name="maxBytes"/> in a <c>history</c> event (always at least one message when there is one);
    /// <paramref name="more"/> says whether older ones are kept.</summary>
    public List<HistoryEntry> History(long before, int limit, int maxBytes, out bool more)
    {
        long bytes = 0;
        var page = new List<HistoryEntry>(Math.Min(limit, 64));
        more = false;
        lock (_lock)
        {
            for (int i = 0; i < _historyCount; i++)
            {
                HistoryEntry entry = _history[(_historyHead - 1 - i + _history.Length) % _history.Length]!;
                if (entry.Id >= before)
                {
                    continue;
                }

                bytes += entry.EncodedSize;
                if (page.Count == limit || (page.Count > 0 && bytes > maxBytes))
                {
                    more = true;
                    break;
                }

                page.Add(entry);
            }
        }

        page.Reverse();
        return page;
    }
}
