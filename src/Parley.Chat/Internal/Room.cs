using System.Buffers;

namespace Parley.Chat;

/// <summary>
/// A room: its sessions (a broadcast group), how many sessions each user has in it (for the
/// first-joins/last-leaves rule), the recent history (a <see cref="HistoryRing"/> of at most
/// <paramref name="historyBytes"/> as a <c>history</c> event sends them; the newest message is
/// always kept), and the encoded beginnings of its events, made once. Thread-safe.
/// </summary>
internal sealed class Room(RoomDefinition definition, MessageFramer framer, long historyBytes)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, int> _sessionsPerUser = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _remoteNodesPerUser = new(StringComparer.Ordinal); // a cluster's other nodes having the user here
    private readonly HistoryRing _history = new(historyBytes);
    private readonly MessageIdList _ids = new(); // every message the journal keeps, for history older than the ring

    public string Name => definition.Name;

    /// <summary>The name as a journal record stores it.</summary>
    public byte[] NameUtf8 { get; } = System.Text.Encoding.UTF8.GetBytes(definition.Name);

    /// <summary><c>{"_et":"user_message","r":ROOM</c>: see <see cref="ChatEventWriter.UserMessagePrefix"/>.</summary>
    public byte[] UserMessagePrefix { get; } = ChatEventWriter.UserMessagePrefix(definition.Name);

    /// <summary><c>{"_et":"message_ack","r":ROOM</c>.</summary>
    public byte[] MessageAckPrefix { get; } = ChatEventWriter.MessageAckPrefix(definition.Name);

    /// <summary><c>{"_et":"history","r":ROOM,"ms":[</c>.</summary>
    public byte[] HistoryPrefix { get; } = ChatEventWriter.HistoryPrefix(definition.Name);

    public string Description => definition.Description;

    public ConnectionGroup Group { get; } = new(definition.Name, framer);

    public int UserCount
    {
        get
        {
            lock (_lock)
            {
                if (_remoteNodesPerUser.Count == 0)
                {
                    return _sessionsPerUser.Count;
                }

                int count = _sessionsPerUser.Count;
                foreach (string user in _remoteNodesPerUser.Keys)
                {
                    if (!_sessionsPerUser.ContainsKey(user))
                    {
                        count++;
                    }
                }

                return count;
            }
        }
    }

    /// <summary>Adds a session; true when it is the user's first in this room on this node.
    /// <paramref name="firstAnywhere"/>: and no other node has the user in it either.</summary>
    public bool Join(Connection connection, string user, out bool firstAnywhere)
    {
        lock (_lock)
        {
            Group.Add(connection);
            _sessionsPerUser.TryGetValue(user, out int count);
            _sessionsPerUser[user] = count + 1;
            firstAnywhere = count == 0 && !_remoteNodesPerUser.ContainsKey(user);
            return count == 0;
        }
    }

    /// <summary>Removes a session; true when it was the user's last in this room on this node.
    /// <paramref name="lastAnywhere"/>: and no other node has the user in it either.</summary>
    public bool Leave(Connection connection, string user, out bool lastAnywhere)
    {
        lock (_lock)
        {
            Group.Remove(connection);
            lastAnywhere = false;
            if (!_sessionsPerUser.TryGetValue(user, out int count))
            {
                return false;
            }

            if (count <= 1)
            {
                _sessionsPerUser.Remove(user);
                lastAnywhere = !_remoteNodesPerUser.ContainsKey(user);
                return true;
            }

            _sessionsPerUser[user] = count - 1;
            return false;
        }
    }

    /// <summary>
    /// Another node has the user in this room now (<paramref name="present"/>) or no longer; true
    /// when that makes the user enter the room or leave it as members see it (no session of the
    /// user's here, and no other node had it, or has it still).
    /// </summary>
    public bool SetRemote(string user, bool present)
    {
        lock (_lock)
        {
            _remoteNodesPerUser.TryGetValue(user, out int nodes);
            if (present)
            {
                _remoteNodesPerUser[user] = nodes + 1;
                return nodes == 0 && !_sessionsPerUser.ContainsKey(user);
            }

            if (nodes == 0)
            {
                return false;
            }

            if (nodes == 1)
            {
                _remoteNodesPerUser.Remove(user);
                return !_sessionsPerUser.ContainsKey(user);
            }

            _remoteNodesPerUser[user] = nodes - 1;
            return false;
        }
    }

    /// <summary>The users in the room on any node, sorted by ordinal.</summary>
    public string[] Users()
    {
        lock (_lock)
        {
            var users = new List<string>(_sessionsPerUser.Count + _remoteNodesPerUser.Count);
            users.AddRange(_sessionsPerUser.Keys);
            foreach (string user in _remoteNodesPerUser.Keys)
            {
                if (!_sessionsPerUser.ContainsKey(user))
                {
                    users.Add(user);
                }
            }

            users.Sort(StringComparer.Ordinal);
            return [.. users];
        }
    }

    /// <summary>The bytes the kept history takes as <c>history</c> events send it.</summary>
    public long HistoryBytes
    {
        get
        {
            lock (_lock)
            {
                return _history.UsedBytes;
            }
        }
    }

    /// <summary>The memory the kept history holds (its ring and index, and the ids of the room's messages in the journal).</summary>
    public long HistoryHeldBytes
    {
        get
        {
            lock (_lock)
            {
                return _history.HeldBytes + _ids.HeldBytes;
            }
        }
    }

    /// <summary>Ids of the room's messages the journal keeps (for history older than what is in memory).</summary>
    public long JournalMessageCount
    {
        get
        {
            lock (_lock)
            {
                return _ids.Count;
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
                return _history.Count;
            }
        }
    }

    /// <summary>Keeps a message, <paramref name="message"/> being its <c>history</c> entry object, as the newest;
    /// now and then drops the ids of messages the journal no longer keeps (below <paramref name="firstRetained"/>).</summary>
    public void AddHistory(long id, ReadOnlySpan<byte> message, long firstRetained)
    {
        long delta;
        lock (_lock)
        {
            long before = _history.HeldBytes + _ids.HeldBytes;
            _history.Add(id, message);
            _ids.Add(id);
            if (_ids.Count % MessageIdList.Block == 0)
            {
                _ids.TrimBefore(firstRetained);
            }
            delta = _history.HeldBytes + _ids.HeldBytes - before;
        }

        if (delta != 0)
        {
            ChatMetrics.HistoryBytes.Add(delta);
        }
    }

    /// <summary>Drops the ids of messages the journal no longer keeps.</summary>
    public void TrimJournalIds(long firstRetained)
    {
        long delta;
        lock (_lock)
        {
            long held = _ids.HeldBytes;
            _ids.TrimBefore(firstRetained);
            delta = _ids.HeldBytes - held;
        }

        if (delta != 0)
        {
            ChatMetrics.HistoryBytes.Add(delta);
        }
    }

    /// <summary>Forgets the kept history (the server is closing).</summary>
    public void ClearHistory()
    {
        long bytes;
        lock (_lock)
        {
            bytes = _history.HeldBytes + _ids.HeldBytes;
            _history.Clear();
            _ids.Clear();
        }

        ChatMetrics.HistoryBytes.Add(-bytes);
    }

    /// <summary>
    /// A <c>history</c> page: up to <paramref name="limit"/> of the newest messages with an id below
    /// <paramref name="before"/>, oldest first, at most <paramref name="maxBytes"/> of them (always
    /// one when there is one). When memory holds such messages, the page is written into
    /// <paramref name="output"/> from the ring (copied as kept: nothing is encoded again), with
    /// <c>more</c> saying whether older ones exist, in memory or in the journal; true. When only
    /// the journal holds them, <paramref name="journalIds"/> gets the newest <paramref name="limit"/>
    /// of their ids, ascending, and <paramref name="more"/> whether older ones are kept; false,
    /// and nothing is written. Ids below <paramref name="firstRetained"/> (deleted by the
    /// journal's retention) are dropped first. One decision under the room's lock, so messages
    /// arriving meanwhile cannot empty the page it chose.
    /// </summary>
    public bool TryWriteHistory(PooledBufferWriter output, long before, int limit, long maxBytes, long firstRetained, List<long> journalIds, out bool more)
    {
        long delta;
        bool written;
        lock (_lock)
        {
            long held = _ids.HeldBytes;
            _ids.TrimBefore(firstRetained);
            delta = _ids.HeldBytes - held;
            if ((_history.Count > 0 && _history.Id(0) < before) || !_ids.HasBefore(before))
            {
                WriteRingPage(output, before, limit, maxBytes, out more);
                written = true;
            }
            else
            {
                more = _ids.NewestBefore(before, limit, journalIds);
                written = false;
            }
        }

        if (delta != 0)
        {
            ChatMetrics.HistoryBytes.Add(delta);
        }

        return written;
    }

    /// <summary>Under the lock: the ring's page (possibly empty), and whether older messages exist.</summary>
    private void WriteRingPage(PooledBufferWriter output, long before, int limit, long maxBytes, out bool more)
    {
        output.Write(HistoryPrefix);
        (int first, int count) = _history.Page(before, limit, maxBytes, out more);
        for (int i = first; i < first + count; i++)
        {
            if (i > first)
            {
                output.Write(","u8);
            }

            output.Write(_history.Message(i));
        }

        // Older than the page: in the ring (more), or in the journal only (ids hold them all).
        more = more || _ids.HasBefore(count > 0 ? _history.Id(first) : before);
        output.Write(more ? "],\"more\":true}"u8 : "],\"more\":false}"u8);
    }
}
