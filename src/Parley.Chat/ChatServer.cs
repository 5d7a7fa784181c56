using JournalLog = Parley.Journal.Journal;
using Microsoft.Extensions.Logging;
using Parley.Journal;

namespace Parley.Chat;

/// <summary>
/// The chat server's domain: rooms, sessions and users over any <see cref="Connection"/> that
/// uses <see cref="ChatServerOptions.CreateFramer"/> (TCP, in-memory, …), with every accepted
/// message stored in a <see cref="Journal"/> before it is acknowledged and broadcast.
/// </summary>
/// <remarks>
/// Protocol: newline-delimited JSON, compatible with rust-chat-server's clients and extended
/// (docs/wire-formats.md, "Chat protocol"). A refused command gets an <c>error</c> event and the
/// connection stays open, until <see cref="ChatServerOptions.MaxErrorsPerMinute"/> is passed.
/// Thread-safe: <see cref="RunSessionAsync"/> is called once per connection, concurrently.
/// </remarks>
public sealed partial class ChatServer : IAsyncDisposable
{
    private readonly ChatServerOptions _options;
    private readonly ILogger _logger;
    private readonly RoomDirectory _rooms;
    private readonly Room[] _roomList;
    private readonly ChatRoomInfo[] _roomGreeting; // login_successful's room list: names and descriptions never change
    private readonly JournalLog? _journal; // null in a cluster: the backplane's log stores the messages
    private readonly IChatBackplane? _backplane;
    private readonly DeliveryQueue _deliveries;
    private readonly SemaphoreSlim _journalReads = new(1, 1); // history pages read from the journal: one at a time

    /// <summary>The queue between the journal and delivery (for tests).</summary>
    internal DeliveryQueue Deliveries => _deliveries;
    private readonly JournalCommitCallback _onCommitted;
    private readonly UserStore? _users;
    private readonly LoginThrottle _throttle;
    private readonly PasswordChecks _passwordChecks;
    private readonly LogRateLimiter _logLimiter;
    private readonly LogRateLimiter _faultLogLimiter; // the server's own faults: peers' noise must not hide them
    private readonly Lock _sessionsLock = new();
    private readonly Dictionary<string, int> _sessionsPerUser = new(StringComparer.Ordinal);
    private long _nextSession;
    private int _sessions;

    private ChatServer(ChatServerOptions options, MessageFramer framer)
    {
        _options = options;
        _logger = options.LoggerFactory.CreateLogger<ChatServer>();
        Framer = framer;
        _roomList = [.. options.Rooms.Select(r => new Room(r, framer, options.EffectiveHistoryBytesPerRoom))];
        _rooms = new RoomDirectory(_roomList);
        _deliveries = new DeliveryQueue(Deliver, options.MaxQueuedDeliveryBytes);
        _onCommitted = OnCommitted;
        _roomGreeting = [.. _roomList.Select(r => new ChatRoomInfo(r.Name, r.Description))];
        options.MetricsFeed?.Attach(framer);
        _logLimiter = new LogRateLimiter(options.TimeProvider);
        _faultLogLimiter = new LogRateLimiter(options.TimeProvider);
        _throttle = new LoginThrottle(options.MaxFailedLogins, options.LoginThrottleWindow, options.TimeProvider);
        DataFolder.Create(options.DataDirectory);
        foreach (string problem in DataFolder.Problems(options.DataDirectory))
        {
            Log.DataTooOpen(_logger, problem);
        }

        _passwordChecks = new PasswordChecks(options.MaxConcurrentLoginChecks, options.MaxQueuedLoginChecks, options.MaxLoginChecksPerAddress);
        if (options.Auth == AuthMode.Required)
        {
            _users = UserStore.Open(UsersPath(options.DataDirectory));
            if (_users.Names.Count == 0)
            {
                Log.NoUsers(_logger, _users.Path, options.DataDirectory);
            }
        }

        _backplane = options.Backplane;
        if (_backplane is not null)
        {
            _host = new BackplaneHost(this);
            return;
        }

        var journalOptions = new JournalOptions
        {
            Directory = JournalPath(options.DataDirectory),
            Durability = options.Durability,
            MaxTotalBytes = options.MaxJournalBytes,
            // Retention deletes whole segments when one fills: with segments an eighth of the limit
            // (64 MiB at most) the journal holds the limit and the segment being written.
            SegmentBytes = Math.Clamp(options.MaxJournalBytes / 8, Math.Min(4096, options.MaxJournalBytes), 64L * 1024 * 1024),
            MaxRecordBytes = ChatRecord.MaxLength(options.MaxMessageBytes),
            AcceptDamage = options.AcceptJournalDamage,
            LoggerFactory = options.LoggerFactory,
            TimeProvider = options.TimeProvider,
        };
        options.ConfigureJournal?.Invoke(journalOptions);
        _journal = JournalLog.Open(journalOptions, Replay);
        foreach (Room room in _roomList)
        {
            room.TrimJournalIds(_journal.FirstRetainedId);
        }
    }

    /// <summary>
    /// What a connection refused at accept gets before it is closed (for
    /// <see cref="ParleyServerOptions.RefusalMessage"/>): an <c>error</c> event, <c>server_full</c>,
    /// saying whether the server or the peer's address is at its limit.
    /// </summary>
    public static ReadOnlyMemory<byte> RefusalEvent(CloseReason reason) => reason == CloseReason.AddressLimit
        ? s_addressFull
        : s_serverFull;

    private static readonly byte[] s_serverFull = Events.Error(new ChatError(ErrorCodes.ServerFull, "the server is full; try again later")).ToArray();
    private static readonly byte[] s_addressFull = Events.Error(new ChatError(ErrorCodes.ServerFull, "too many connections from your address; close some and try again")).ToArray();

    /// <summary>The framer every session's connection must use (newline-delimited, with a line limit fitting the message limit).</summary>
    public MessageFramer Framer { get; }

    /// <summary>Sessions now.</summary>
    public int SessionCount => Volatile.Read(ref _sessions);

    /// <summary>The memory the rooms' recent history holds (rings and their indexes), in bytes.</summary>
    public long HistoryBytes => _roomList.Sum(r => r.HistoryHeldBytes);

    /// <summary>The id of the last stored message (the journal's; in a cluster, the last the backplane delivered here).</summary>
    public long LastMessageId => _journal?.CommittedId ?? Interlocked.Read(ref _deliveredId);

    /// <summary>The lowest id still stored (the journal's or the backplane's retention deletes the oldest).</summary>
    private long FirstRetainedId => _backplane?.FirstRetainedId ?? _journal!.FirstRetainedId;

    /// <summary>The options.</summary>
    public ChatServerOptions Options => _options;

    /// <summary>Where the journal of a data folder lives.</summary>
    public static string JournalPath(string dataDirectory) => Path.Combine(dataDirectory, "journal");

    /// <summary>Where the users file of a data folder lives.</summary>
    public static string UsersPath(string dataDirectory) => Path.Combine(dataDirectory, "users.json");

    /// <summary>
    /// Opens the server: checks the options, opens (and recovers) the journal in the data
    /// folder, rebuilds each room's recent history from it, and reads the users file when
    /// authentication is required.
    /// </summary>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    /// <exception cref="IOException">The data folder cannot be used.</exception>
    public static ChatServer Open(ChatServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Backplane is not null)
        {
            throw new ArgumentException("A server with a backplane is opened with OpenAsync (it reads the shared log first).", nameof(options));
        }

        options.Validate();
        return new ChatServer(options, options.CreateFramer());
    }

    /// <summary>
    /// Opens the server as <see cref="Open"/> does; with a <see cref="ChatServerOptions.Backplane"/>,
    /// starts it and waits until the rooms' history has been read from the shared log.
    /// </summary>
    /// <exception cref="ChatBackplaneUnavailableException">The backplane's engine cannot be reached.</exception>
    public static async Task<ChatServer> OpenAsync(ChatServerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ChatServer server;
        try
        {
            options.Validate();
            server = new ChatServer(options, options.CreateFramer());
        }
        catch when (options.Backplane is not null)
        {
            await options.Backplane.DisposeAsync().ConfigureAwait(false); // the server owns it from here, opened or not
            throw;
        }

        if (server._backplane is { } backplane)
        {
            try
            {
                await backplane.StartAsync(server._host!, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await server.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }

        return server;
    }

    /// <summary>Stores what is pending and closes the journal. Sessions should be closed first.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_backplane is not null)
        {
            await _backplane.DisposeAsync().ConfigureAwait(false);
        }

        if (_journal is not null)
        {
            await _journal.DisposeAsync().ConfigureAwait(false);
        }

        await _deliveries.WhenIdleAsync().ConfigureAwait(false); // the last commits' deliveries
        foreach (Room room in _roomList)
        {
            room.ClearHistory();
        }
    }

    private void Replay(in JournalRecord record)
    {
        if (ChatRecord.TryRead(record.Payload.Span, out ReadOnlySpan<byte> room, out ReadOnlySpan<byte> user, out ReadOnlySpan<byte> content)
            && _rooms.TryFind(room, out Room? target))
        {
            RepairText(ref user, ref content);

            target!.AddHistory(record.Id, Events.HistoryMessage(user, content, record.Id, record.Timestamp), firstRetained: 0); // trimmed once the journal is open
        }
    }

    /// <summary>A stored record's names and text as events show them: a record not written by this
    /// server (which stores checked text) is shown as decoding replaces what is not UTF-8.</summary>
    private static void RepairText(ref ReadOnlySpan<byte> user, ref ReadOnlySpan<byte> content)
    {
        if (!System.Text.Unicode.Utf8.IsValid(user) || !System.Text.Unicode.Utf8.IsValid(content))
        {
            user = System.Text.Encoding.UTF8.GetBytes(System.Text.Encoding.UTF8.GetString(user));
            content = System.Text.Encoding.UTF8.GetBytes(System.Text.Encoding.UTF8.GetString(content));
        }
    }

    private static string NewUserId() => $"user-{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4))}";

    private string NewSessionId() => $"s-{Interlocked.Increment(ref _nextSession)}";

    private bool TryAddUserSession(string user)
    {
        lock (_sessionsLock)
        {
            _sessionsPerUser.TryGetValue(user, out int count);
            if (count >= _options.MaxSessionsPerUser)
            {
                return false;
            }

            _sessionsPerUser[user] = count + 1;
            return true;
        }
    }

    private void RemoveUserSession(string user)
    {
        lock (_sessionsLock)
        {
            if (_sessionsPerUser.TryGetValue(user, out int count))
            {
                if (count <= 1)
                {
                    _sessionsPerUser.Remove(user);
                }
                else
                {
                    _sessionsPerUser[user] = count - 1;
                }
            }
        }
    }
}
