using System.Buffers;
using Microsoft.Extensions.Logging;

namespace Parley.Chat;

/// <summary>
/// A client of the chat server over any Parley connection — TCP, TLS or a dialer such as
/// shared-memory IPC (<see cref="ParleyClientOptions"/>), or one given to
/// <see cref="StartAsync"/>. Requests are awaitable and pipelined; what the server sends on its
/// own (messages, presence, errors) arrives as .NET events.
/// </summary>
/// <remarks>
/// <para><b>Requests</b>: <see cref="LoginAsync"/>, <see cref="JoinRoomAsync"/>,
/// <see cref="LeaveRoomAsync"/>, <see cref="SendMessageAsync"/> (completes when the server has
/// stored the message and acknowledged it), <see cref="GetHistoryAsync"/>,
/// <see cref="ListRoomsAsync"/>, <see cref="ListUsersAsync"/>, <see cref="PingAsync"/>. Any
/// number may be in flight from any threads, up to
/// <see cref="ChatClientOptions.MaxPendingRequests"/>; a refusal throws
/// <see cref="ChatServerException"/>; a connection that closes first fails every pending request
/// with <see cref="ChatConnectionClosedException"/>; a server silent for
/// <see cref="ChatClientOptions.RequestTimeout"/> is treated as gone. Cancelling a request stops
/// the wait, not the command: the server may still carry it out.</para>
/// <para><b>Events</b> (as SignalR's <c>On</c> handlers): <see cref="MessageReceived"/>,
/// <see cref="PresenceChanged"/>, <see cref="ErrorReceived"/> and <see cref="Disconnected"/> run
/// on the client's receive loop, one at a time, in the order the server sent them, and before
/// any later answer is matched. A handler must not block: while it runs, nothing else is read
/// (TCP pushes back on the server, which disconnects a client that falls too far behind). To
/// consume them as a stream, write them to a <see cref="System.Threading.Channels.Channel{T}"/>.
/// A handler that throws closes the client.</para>
/// <para>The connection carries no keep-alive frames of its own (the line protocol has none):
/// give it an <see cref="ConnectionOptions.IdleTimeout"/> longer than the quiet periods you
/// expect, or <see cref="Timeout.InfiniteTimeSpan"/>, and call <see cref="PingAsync"/> to probe.</para>
/// </remarks>
public sealed partial class ChatClient : IAsyncDisposable
{
    private readonly Connection _connection;
    private readonly ChatClientOptions _options;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _slots;
    private readonly ArrayBufferWriter<byte> _buffer = new(256);
    private Task _receiving = Task.CompletedTask;
    private Task? _closing;

    private ChatClient(Connection connection, ChatClientOptions options)
    {
        _connection = connection;
        _options = options;
        _logger = options.LoggerFactory.CreateLogger<ChatClient>();
        _slots = new SemaphoreSlim(options.MaxPendingRequests, options.MaxPendingRequests);
    }

    /// <summary>A message was stored in a room this session is in (its own messages included).</summary>
    public event Action<ChatMessage>? MessageReceived;

    /// <summary>A user's first session joined a room this session is in, or its last one left
    /// (this session's own join included; its own leave answers <see cref="LeaveRoomAsync"/>).</summary>
    public event Action<RoomParticipationEvent>? PresenceChanged;

    /// <summary>The server sent an error that answers no request: usually its last word before it
    /// closes the connection (<c>too_many_errors</c>, <c>login_timeout</c>, <c>internal_error</c>).</summary>
    public event Action<ChatError>? ErrorReceived;

    /// <summary>The connection is gone and every pending request has failed; the argument is null
    /// after <see cref="CloseAsync"/>, else why (as pending requests saw it). Raised once.</summary>
    public event Action<ChatConnectionClosedException?>? Disconnected;

    /// <summary>The connection the client runs on (its <see cref="Connection.CloseReason"/>, counters).</summary>
    public Connection Connection => _connection;

    /// <summary>The session, once started: at once on an open server (it greets every
    /// connection), after <see cref="LoginAsync"/> on one that requires login; else null.</summary>
    public LoginSuccessfulEvent? Session
    {
        get
        {
            lock (_lock)
            {
                return _session;
            }
        }
    }

    /// <summary>The user this session acts as, once it has one (see <see cref="Session"/>).</summary>
    public string? User => Session?.User;

    /// <summary>Why the client closed, once it has: null while it is open and after a clean
    /// <see cref="CloseAsync"/> (the same as <see cref="Disconnected"/> was given).</summary>
    public ChatConnectionClosedException? Failure
    {
        get
        {
            lock (_lock)
            {
                return _closedCleanly ? null : _failure;
            }
        }
    }

    /// <summary>Requests sent and not yet answered.</summary>
    public int PendingRequests => _options.MaxPendingRequests - _slots.CurrentCount;

    /// <summary>Completes when the connection is gone and every pending request has completed. Never faults.</summary>
    public Task Completion => _receiving;

    /// <summary>
    /// Connects with <paramref name="connection"/> (its <see cref="ConnectionOptions.Framer"/>
    /// must frame one event per message: a <see cref="LineFramer"/>, e.g.
    /// <see cref="ChatProtocol.CreateClientFramer"/>, or a WebSocket client's framer with a
    /// WebSocket dialer) and starts a client on it, as <see cref="StartAsync"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The framer is the length-prefixed or raw one, which the chat server does not speak.</exception>
    /// <exception cref="TimeoutException">The connect, or the server's first answer, took too long.</exception>
    /// <exception cref="ChatConnectionClosedException">The server closed the connection at once (e.g. <c>server_full</c>).</exception>
    public static async Task<ChatClient> ConnectAsync(ParleyClientOptions connection, ChatClientOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (connection.Framer is LengthPrefixedFramer or RawFramer)
        {
            throw new ArgumentException($"A chat connection is framed by lines: set {nameof(ParleyClientOptions.Framer)} to {nameof(ChatProtocol)}.{nameof(ChatProtocol.CreateClientFramer)}().", nameof(connection));
        }

        (options ?? new ChatClientOptions()).Validate();
#pragma warning disable CA2000 // The client owns the connection; the catch below closes it when there is none.
        Connection opened = await ParleyClient.OpenConnectionAsync(connection, cancellationToken).ConfigureAwait(false);
#pragma warning restore CA2000
        return await StartAsync(opened, options, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts a client on an open connection that nothing reads yet (the client reads it from now
    /// on, and closes it when it closes or fails). It pings the server to learn its mode: an open
    /// server greets first (<see cref="Session"/> is then set); a server that requires login
    /// answers the ping alone (call <see cref="LoginAsync"/> next, within its login timeout).
    /// </summary>
    /// <exception cref="TimeoutException">No answer within <see cref="ChatClientOptions.RequestTimeout"/>.</exception>
    /// <exception cref="ChatConnectionClosedException">The connection closed first (<see cref="ChatConnectionClosedException.ServerError"/> says whether the server said why).</exception>
    public static async Task<ChatClient> StartAsync(Connection connection, ChatClientOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        options ??= new ChatClientOptions();
        options.Validate();
        var client = new ChatClient(connection, options);
        client._receiving = client.ReceiveAsync();
        try
        {
            await client.PingAsync(cancellationToken).ConfigureAwait(false);
            return client;
        }
        catch
        {
            connection.Abort();
            await client._receiving.ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Logs in on a server that requires it (<see cref="AuthMode.Required"/>).</summary>
    /// <exception cref="ChatServerException"><c>login_failed</c>, <c>throttled</c>, <c>too_many_sessions</c>, <c>already_logged_in</c> (also on an open server, which uses no logins).</exception>
    public async Task<LoginSuccessfulEvent> LoginAsync(string user, string password, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(password);
        return (LoginSuccessfulEvent)await RequestAsync(new ChatCommand(ChatCommandType.Login, User: user, Password: password), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Joins a room; the answer lists its users (cut to fit one event).</summary>
    /// <exception cref="ChatServerException"><c>unknown_room</c>, <c>already_member</c>, <c>too_many_rooms</c>, <c>not_logged_in</c>.</exception>
    public async Task<UserJoinedRoomEvent> JoinRoomAsync(string room, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(room);
        return (UserJoinedRoomEvent)await RequestAsync(new ChatCommand(ChatCommandType.JoinRoom, Room: room), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Leaves a room.</summary>
    /// <exception cref="ChatServerException"><c>unknown_room</c>, <c>not_a_member</c>.</exception>
    public async Task LeaveRoomAsync(string room, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(room);
        await RequestAsync(new ChatCommand(ChatCommandType.LeaveRoom, Room: room), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Sends a message; completes when the server has stored it (<c>message_ack</c>), with its id.
    /// Sends are pipelined: each carries a <c>ref</c> the server echoes, so each completes with its
    /// own answer whatever the order of the answers.
    /// </summary>
    /// <exception cref="ChatServerException"><c>not_a_member</c>, <c>message_too_long</c>,
    /// <c>empty_message</c>, <c>storage_failed</c> (not stored; the server retries its disk, so
    /// sending again later may succeed).</exception>
    /// <exception cref="ChatConnectionClosedException">The connection closed before the answer: the message may or may not be stored.</exception>
    /// <exception cref="ArgumentException">The content is longer than <see cref="ChatClientOptions.MaxMessageBytes"/>; nothing was sent.</exception>
    public async Task<MessageAckEvent> SendMessageAsync(string room, string content, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(room);
        ArgumentNullException.ThrowIfNull(content);
        if (content.Length > _options.MaxMessageBytes / 3 && System.Text.Encoding.UTF8.GetByteCount(content) > _options.MaxMessageBytes)
        {
            throw new ArgumentException($"The message is longer than {_options.MaxMessageBytes} bytes (ChatClientOptions.MaxMessageBytes, the server's limit); it was not sent.", nameof(content));
        }

        return (MessageAckEvent)await RequestAsync(new ChatCommand(ChatCommandType.SendMessage, Room: room, Content: content), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The newest messages of a room before <paramref name="before"/> (an id, exclusive; null: the newest), at most <paramref name="limit"/> (the server's default and cap when null), oldest first.</summary>
    /// <exception cref="ChatServerException"><c>unknown_room</c>.</exception>
    public async Task<HistoryEvent> GetHistoryAsync(string room, long? before = null, int? limit = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(room);
        return (HistoryEvent)await RequestAsync(new ChatCommand(ChatCommandType.History, Room: room, Before: before, Limit: limit), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A page of the room list with each room's user count, starting after the room named <paramref name="after"/>.</summary>
    public async Task<RoomsEvent> ListRoomsAsync(string? after = null, CancellationToken cancellationToken = default) =>
        (RoomsEvent)await RequestAsync(new ChatCommand(ChatCommandType.ListRooms, After: after), cancellationToken).ConfigureAwait(false);

    /// <summary>A page of a room's users (sorted), starting after <paramref name="after"/>.</summary>
    /// <exception cref="ChatServerException"><c>unknown_room</c>.</exception>
    public async Task<RoomUsersEvent> ListUsersAsync(string room, string? after = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(room);
        return (RoomUsersEvent)await RequestAsync(new ChatCommand(ChatCommandType.ListUsers, Room: room, After: after), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Asks the server to answer: completes when the server answers, which proves it
    /// alive and reading. The server answers a ping at once, without waiting for the journal, so a
    /// pong may arrive before the <c>message_ack</c> of a send made earlier; to wait for those,
    /// await their own tasks.</summary>
    public Task PingAsync(CancellationToken cancellationToken = default) =>
        RequestAsync(new ChatCommand(ChatCommandType.Ping), cancellationToken);

    /// <summary>
    /// Closes cleanly: no new requests are taken, <c>quit</c> is sent, the server answers what was
    /// sent before it (so pending requests complete) and closes; then the connection is closed.
    /// Waits at most <see cref="ChatClientOptions.RequestTimeout"/> for the server, then aborts.
    /// Idempotent; safe from any thread.
    /// </summary>
    public Task CloseAsync()
    {
        lock (_lock)
        {
            return _closing ??= CloseCoreAsync();
        }
    }

    /// <summary>Same as <see cref="CloseAsync"/>.</summary>
    public ValueTask DisposeAsync() => new(CloseAsync());

    private async Task CloseCoreAsync()
    {
        await Task.Yield(); // not under the caller's lock
        lock (_lock)
        {
            if (_failure is null)
            {
                _quitting = true;
                _buffer.ResetWrittenCount();
                ChatCommandWriter.WriteQuit(_buffer);
                _connection.Send(_buffer.WrittenSpan);
            }
        }

        try
        {
            await _receiving.WaitAsync(_options.RequestTimeout, _options.TimeProvider).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The server did not close in time: the abort below ends the receive loop.
            _connection.Abort();
        }

        await _receiving.ConfigureAwait(false);
        // The semaphore is not disposed: it has no wait handle to release, and a request racing
        // the close must still be able to give its place back.
        await _connection.CloseAsync().ConfigureAwait(false);
    }
}
