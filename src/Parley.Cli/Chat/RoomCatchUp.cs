namespace Parley.Cli.Chat;

/// <summary>
/// Catching up on one room after a reconnect: history pages back to the last message seen
/// before the connection dropped, merged by journal id with the live messages that arrive
/// meanwhile, then printed once, in order, each message once.
/// </summary>
/// <remarks>
/// Pages are requested newest first (<c>history</c> with <c>before</c> the oldest id of the
/// previous page) until a page reaches the last id seen or the server says there is no
/// more. At most <see cref="MaxPages"/> pages: a client away for a long time is told how much
/// it is shown, rather than flooded (or holding unbounded lines).
/// </remarks>
internal sealed class RoomCatchUp(string room, long lastSeen)
{
    /// <summary>Messages asked for per page: the server's maximum page.</summary>
    public const int PageSize = 200;

    /// <summary>Pages fetched at most, so at most 1000 missed messages are shown per room.</summary>
    public const int MaxPages = 5;

    /// <summary>Live messages held while the pages arrive; past this the catch-up ends early.</summary>
    public const int MaxLive = 1000;

    private readonly SortedDictionary<long, string> _lines = [];
    private int _pages;
    private int _live;

    public string Room => room;

    /// <summary>The newest id seen before the connection dropped: everything after it was missed.</summary>
    public long LastSeen => lastSeen;

    /// <summary>True when older missed messages were left out (more than <see cref="MaxPages"/> pages, or the live buffer filled).</summary>
    public bool Truncated { get; private set; }

    /// <summary>The missed and live messages, in id order.</summary>
    public IReadOnlyCollection<string> Lines => _lines.Values;

    /// <summary>The newest id held, or <see cref="LastSeen"/> when none is.</summary>
    public long NewestId => _lines.Count == 0 ? lastSeen : _lines.Keys.Max();

    /// <summary>Holds a live message until the catch-up is printed; false when the buffer is full (end the catch-up now).</summary>
    public bool AddLive(long id, string line)
    {
        if (id > lastSeen)
        {
            _lines.TryAdd(id, line);
        }

        if (++_live < MaxLive)
        {
            return true;
        }

        Truncated = true;
        return false;
    }

    /// <summary>Adds one history page (oldest first); returns the <c>before</c> id of the next page to ask for, or null when done.</summary>
    public long? AddPage(IReadOnlyList<(long Id, string Line)> page, bool more)
    {
        _pages++;
        long oldest = long.MaxValue;
        foreach ((long id, string line) in page)
        {
            oldest = Math.Min(oldest, id);
            if (id > lastSeen)
            {
                _lines.TryAdd(id, line);
            }
        }

        if (page.Count == 0 || !more || oldest <= lastSeen + 1)
        {
            return null;
        }

        if (_pages >= MaxPages)
        {
            Truncated = true;
            return null;
        }

        return oldest;
    }
}
