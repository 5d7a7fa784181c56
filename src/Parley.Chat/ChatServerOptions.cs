using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Parley.Journal;

namespace Parley.Chat;

/// <summary>Settings of a <see cref="ChatServer"/>. Every limit has a default; none is unlimited.</summary>
public sealed class ChatServerOptions
{
    /// <summary>The rooms. Default <see cref="RoomsFile.Defaults"/>.</summary>
    public IReadOnlyList<RoomDefinition> Rooms { get; set; } = RoomsFile.Defaults;

    /// <summary>Where the journal (<c>journal/</c>) and the users file (<c>users.json</c>) live. Default <c>./parley-data</c>.</summary>
    public string DataDirectory { get; set; } = "parley-data";

    /// <summary>How sessions get a user. Default <see cref="AuthMode.Open"/>.</summary>
    public AuthMode Auth { get; set; } = AuthMode.Open;

    /// <summary>When a message counts as stored, and so is acknowledged and broadcast. Default <see cref="JournalDurability.Batch"/>.</summary>
    public JournalDurability Durability { get; set; } = JournalDurability.Batch;

    /// <summary>
    /// Open even when the journal is damaged in a way that loses messages which may have been
    /// acknowledged (see <see cref="Parley.Journal.JournalOptions.AcceptDamage"/>). Default false:
    /// <see cref="ChatServer.Open"/> throws <see cref="Parley.Journal.JournalDamagedException"/> and changes nothing.
    /// </summary>
    public bool AcceptJournalDamage { get; set; }

    /// <summary>Retention: the journal's size at most (the oldest segment goes when a new one starts past it; segments are an eighth of this, 64 MiB at most, so it may be passed by the segment being written). Default 1 GiB.</summary>
    public long MaxJournalBytes { get; set; } = 1024L * 1024 * 1024;

    /// <summary>The longest message content, in UTF-8 bytes. Default 4 KiB; a longer one is refused with <c>message_too_long</c>.</summary>
    public int MaxMessageBytes { get; set; } = 4096;

    /// <summary>The longest room or user name. Default 32.</summary>
    public int MaxNameLength { get; set; } = ChatLimits.DefaultMaxNameLength;

    /// <summary>Rooms one session may be in at once. Default 64.</summary>
    public int MaxRoomsPerSession { get; set; } = 64;

    /// <summary>Sessions (connections) one user may hold at once. Default 8.</summary>
    public int MaxSessionsPerUser { get; set; } = 8;

    /// <summary>
    /// Commands one connection may send per second, sustained (a token bucket holding one
    /// second's worth). Past it the server reads that connection's commands more slowly — it is
    /// not an error. Default 1000.
    /// </summary>
    public int MaxCommandsPerSecond { get; set; } = 1000;

    /// <summary>Refused commands a connection may send within a minute; one more closes it with reason
    /// "too many errors". Refusals that are the server's fault (<c>storage_failed</c>: its disk cannot
    /// take the message) do not count. Default 20.</summary>
    public int MaxErrorsPerMinute { get; set; } = 20;

    /// <summary>
    /// The backplane this node shares rooms through with other nodes (a cluster; Parley.Chat.Nats
    /// for NATS JetStream), or null for a single server. With one, messages are stored in the
    /// backplane's log instead of the local journal (<see cref="Durability"/>, <see cref="MaxJournalBytes"/>
    /// and <see cref="AcceptJournalDamage"/> do not apply), their ids are the log's, and rooms list
    /// the users of every node. The server owns it once opened (<see cref="ChatServer.OpenAsync"/>)
    /// and disposes it with itself.
    /// </summary>
    public IChatBackplane? Backplane { get; set; }

    /// <summary>Tests adjust the journal's options here (its storage, to inject disk faults).</summary>
    internal Action<JournalOptions>? ConfigureJournal { get; set; }

    /// <summary>Stored messages waiting for delivery, in record bytes, past which sessions stop
    /// appending until deliveries catch up. 8 MiB, as the journal's own pending limit; tests lower it.</summary>
    internal long MaxQueuedDeliveryBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>Tests stall deliveries here (called before each one, on the delivery thread).</summary>
    internal Action? BeforeDelivery { get; set; }

    /// <summary>Awaited when a <c>history</c> page from the journal has its turn, before the read (for tests: hold it there).</summary>
    internal Func<Task>? BeforeJournalPage { get; set; }

    /// <summary>
    /// Bytes of history per room kept in memory for <c>history</c> (rebuilt from the journal at
    /// start), counted as a <c>history</c> event sends the messages: past it the oldest go. The
    /// newest message is always kept. Kept as the encoded bytes in one ring per room, allocated as
    /// messages arrive: a room holds at most this plus its largest message (the ring's slack) and
    /// 16 bytes of index a message. Default 128 KiB: about 850 messages of 100 characters (the
    /// 1000-message bound it replaces held ~150 KiB of those).
    /// </summary>
    public long HistoryBytesPerRoom { get; set; } = 128 * 1024;

    /// <summary>
    /// Bytes of history kept in memory for all rooms together; each room gets an equal share
    /// when <see cref="HistoryBytesPerRoom"/> × rooms would be more. So a large rooms file or
    /// rooms filled with the longest messages cannot make the history cache grow without
    /// bound. Default 64 MiB.
    /// </summary>
    public long MaxHistoryBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>The history budget of each room: <see cref="HistoryBytesPerRoom"/>, or an equal share of <see cref="MaxHistoryBytes"/> when that is less.</summary>
    internal long EffectiveHistoryBytesPerRoom => Math.Min(HistoryBytesPerRoom, MaxHistoryBytes / Math.Max(1, Rooms.Count));

    /// <summary>The most messages one <c>history</c> reply holds. Default 200; the default page is 50.</summary>
    public int MaxHistoryPage { get; set; } = 200;

    /// <summary>
    /// How long a new connection has to log in (<see cref="AuthMode.Required"/>) or, on an open
    /// server, to send its first valid command; then it gets <c>login_timeout</c> and is closed.
    /// A connection that never says anything cannot hold a slot. Default 30 s.
    /// </summary>
    public TimeSpan LoginTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Failed logins for one user name from one address (an IPv4 address or an IPv6 /64) within
    /// <see cref="LoginThrottleWindow"/> before that address's further attempts at that name are
    /// refused (four times as many, at any names, and the address is refused for every name).
    /// Another address can still log in as that user: failures cannot lock the owner out. Default 5.
    /// </summary>
    public int MaxFailedLogins { get; set; } = 5;

    /// <summary>The window of <see cref="MaxFailedLogins"/>, and how long a throttled name stays refused. Default 1 minute.</summary>
    public TimeSpan LoginThrottleWindow { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Password checks running at once. Each is a PBKDF2 hash (100 000 iterations, ~50 ms of
    /// CPU), so a crowd trying passwords could take every core; this bounds it. Default half the
    /// processors, at least one.
    /// </summary>
    public int MaxConcurrentLoginChecks { get; set; } = Math.Max(1, Environment.ProcessorCount / 2);

    /// <summary>Password checks waiting for a turn at most; a login past it is refused with
    /// <c>throttled</c> (try again shortly) without any hashing. Default 64.</summary>
    public int MaxQueuedLoginChecks { get; set; } = 64;

    /// <summary>Password checks running or waiting for one address at most; more are refused with
    /// <c>throttled</c>. Default 2.</summary>
    public int MaxLoginChecksPerAddress { get; set; } = 2;

    /// <summary>Logs. Default: none.</summary>
    public ILoggerFactory LoggerFactory { get; set; } = NullLoggerFactory.Instance;

    /// <summary>Clock for timestamps and throttling. Default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Live figures for dashboards: sessions that send <c>watch_metrics</c> get the
    /// feed's history and then what it publishes. Null (the default): the command is refused as
    /// unknown.</summary>
    public ChatMetricsFeed? MetricsFeed { get; set; }

    /// <summary>
    /// The longest event line the server sends, in bytes. Default 256 KiB, raised to fit the
    /// largest <c>user_message</c> when <see cref="MaxMessageBytes"/> needs more; at least 64 KiB.
    /// Replies built from many users' data are cut to fit it by construction: <c>history</c>
    /// pages by bytes as well as count (with <c>more</c>), room and member lists carry
    /// <c>more</c> and the total <c>n</c> (<c>list_rooms</c> and <c>list_users</c> page with
    /// <c>after</c>). Well under the send queue limit, so a reply never makes a reader that
    /// keeps up look like a slow consumer. Clients must accept lines this long.
    /// </summary>
    public int MaxEventBytes { get; set; } = 256 * 1024;

    /// <summary>The longest command line a client may send: a JSON-escaped message of
    /// <see cref="MaxMessageBytes"/> plus the command around it.</summary>
    public int MaxCommandBytes => Math.Max(16 * 1024, (MaxMessageBytes * 6) + 1024);

    /// <summary>
    /// The smallest send queue (<see cref="ConnectionOptions.MaxSendQueueBytes"/>) a session's
    /// connection should have: two of the largest events, so a reply of the largest size on top
    /// of a room's traffic never makes a client that keeps up look like a slow consumer.
    /// </summary>
    public long MinSendQueueBytes => 2L * EffectiveMaxEventBytes;

    /// <summary><see cref="MaxEventBytes"/> as the server applies it: at least the largest
    /// <c>user_message</c> (a command's worth of content plus room, user, id and time). A
    /// session's framer must write events this long (see <see cref="CreateFramer"/>).</summary>
    public int EffectiveMaxEventBytes => Math.Max(MaxEventBytes, MaxCommandBytes + 1024);

    /// <summary>The line framer sessions must use: commands up to <see cref="MaxCommandBytes"/>
    /// in, events up to <see cref="MaxEventBytes"/> out.</summary>
    public LineFramer CreateFramer() => new(MaxCommandBytes, EffectiveMaxEventBytes);

    /// <summary>The line framer a client of such a server uses: events up to <see cref="MaxEventBytes"/>
    /// in, commands up to <see cref="MaxCommandBytes"/> out.</summary>
    public LineFramer CreateClientFramer() => new(EffectiveMaxEventBytes, MaxCommandBytes);

    /// <summary>Throws when a setting is out of range.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Rooms);
        ArgumentException.ThrowIfNullOrWhiteSpace(DataDirectory);
        if (Rooms.Count == 0)
        {
            throw new ArgumentException("At least one room is needed.", nameof(Rooms));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(MaxMessageBytes, 1, nameof(MaxMessageBytes));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxMessageBytes, 1024 * 1024, nameof(MaxMessageBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxNameLength, 1, nameof(MaxNameLength));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxNameLength, 200, nameof(MaxNameLength));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRoomsPerSession, 1, nameof(MaxRoomsPerSession));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxSessionsPerUser, 1, nameof(MaxSessionsPerUser));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxCommandsPerSecond, 1, nameof(MaxCommandsPerSecond));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxErrorsPerMinute, 1, nameof(MaxErrorsPerMinute));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxHistoryPage, 1, nameof(MaxHistoryPage));
        ArgumentOutOfRangeException.ThrowIfLessThan(HistoryBytesPerRoom, 1, nameof(HistoryBytesPerRoom));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxJournalBytes, 4096, nameof(MaxJournalBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxHistoryBytes, 1, nameof(MaxHistoryBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxFailedLogins, 1, nameof(MaxFailedLogins));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConcurrentLoginChecks, 1, nameof(MaxConcurrentLoginChecks));
        ArgumentOutOfRangeException.ThrowIfNegative(MaxQueuedLoginChecks, nameof(MaxQueuedLoginChecks));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxLoginChecksPerAddress, 1, nameof(MaxLoginChecksPerAddress));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxEventBytes, 64 * 1024, nameof(MaxEventBytes));
        if (LoginTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(LoginTimeout), LoginTimeout, "LoginTimeout must be positive.");
        }
        foreach (RoomDefinition room in Rooms)
        {
            if (ChatLimits.NameProblem(room.Name, MaxNameLength) is { } problem)
            {
                throw new ArgumentException($"Room name \"{room.Name}\" {problem}.", nameof(Rooms));
            }

            if (room.Description.Length > ChatLimits.MaxDescriptionLength)
            {
                throw new ArgumentException($"The description of room \"{room.Name}\" is longer than {ChatLimits.MaxDescriptionLength} characters.", nameof(Rooms));
            }
        }
    }
}
