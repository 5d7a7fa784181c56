using Parley.Chat;

namespace Parley.Cli.Chat;

/// <summary>
/// One <c>parley chat</c> session: what the user types goes to the server, what the server
/// sends is printed, and a lost connection is re-established (log in, rejoin, catch up). The
/// protocol is <see cref="ChatClient"/>'s; this class is the terminal's side of it.
/// </summary>
/// <remarks>
/// The input loop, the client's event handlers (on its receive loop) and the answers to
/// requests share the state below under one lock. State changes only on the server's word: a
/// room is current once the server answered the join, left once it answered the leave.
/// Answers from a client that is no longer the current one (the connection dropped meanwhile)
/// are ignored. Nothing typed is dropped silently: a line that cannot be sent says so, and
/// messages the server had not acknowledged when the connection dropped are listed.
/// Exit code: 0 when everything typed was delivered; 1 when a line was not sent or not
/// confirmed, or the server could not be reached again; 2 for a usage error.
/// </remarks>
internal sealed partial class ChatClientSession(ChatClientSettings settings, ChatView view, ChatInput input) : IDisposable
{
    /// <summary>How long the server has to greet, answer a login, or answer any request before the connection is given up.</summary>
    private static readonly TimeSpan LoginTimeout = TimeSpan.FromSeconds(30);

    /// <summary>How long <c>/join</c> and <c>/leave</c> wait for the server's answer before the next line is read.</summary>
    private static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How long leaving waits for messages already sent to be acknowledged.</summary>
    private static readonly TimeSpan AckTimeout = TimeSpan.FromSeconds(10);

    private readonly Lock _gate = new();
    private readonly TaskCompletionSource<int> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopping = new();

    // Guarded by _gate.
    private ChatClient? _client;
    private string? _me;
    private string? _room;
    private bool _quitting;
    private int _undelivered;
    private TaskCompletionSource? _allAcknowledged;
    private (string User, string Password)? _credentials;
    private readonly SortedSet<string> _joined = new(StringComparer.Ordinal);
    private readonly List<PendingSend> _sends = [];
    private readonly Dictionary<string, long> _lastSeen = new(StringComparer.Ordinal);
    private readonly Dictionary<string, RoomCatchUp> _catchUps = new(StringComparer.Ordinal);

    /// <summary>A line sent and not yet acknowledged (compared by reference: the same text may be sent twice).</summary>
    private sealed class PendingSend(string room, string content)
    {
        public string Room { get; } = room;

        public string Content { get; } = content;
    }

    /// <summary>Connects, logs in, then reads input until the user leaves or the server is gone for good; returns the exit code.</summary>
    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        ConnectResult connected = await settings.Connect(cancellationToken);
        if (connected.Connection is not { } connection)
        {
            await Console.Error.WriteLineAsync($"parley chat: cannot connect to {settings.Target}: {connected.Error}");
            return 1;
        }

        (ChatClient? client, Login login) = await LogInAsync(connection, firstTime: true, cancellationToken);
        if (login.Error is { } first && first.StartsWith("login_timeout", StringComparison.Ordinal) && _credentials is not null)
        {
            // The server's login deadline passed while the password was being typed: the
            // credentials are here now, so log in on a fresh connection at once.
            connected = await settings.Connect(cancellationToken);
            if (connected.Connection is not { } again)
            {
                await Console.Error.WriteLineAsync($"parley chat: cannot connect to {settings.Target}: {connected.Error}");
                return 1;
            }

            (client, login) = await LogInAsync(again, firstTime: false, cancellationToken);
        }

        string? refusal = login.Error is not null ? login.Error
            : login.Open && settings.User is { } wanted
                // Posting as user-1a2b3c4d to people who were promised "alice" is worse than not starting.
                ? $"{settings.Target} does not use logins (open mode): it names each connection itself, and named this one {login.User}, " +
                  $"so --user {wanted} cannot be honoured. Leave out --user to chat under the generated name, or use a server started with --auth required."
                : null;
        if (refusal is not null || client is null)
        {
            await Console.Error.WriteLineAsync($"parley chat: {refusal}");
            if (client is not null)
            {
                await client.CloseAsync();
            }

            return login.Error is not null ? login.ExitCode : 2;
        }

        lock (_gate)
        {
            _client = client;
            _me = login.User;
            Attach(client);
            view.Print($"* logged in as {ChatView.Printable(login.User!)}; rooms: {ChatView.Printable(login.Rooms)}");
            view.SetPrompt(Prompt());
        }

        Task connectionLoop = KeepConnectedAsync(client, cancellationToken);
        if (!settings.LineMode)
        {
            view.Print("type /help for commands");
        }

        int? ended = await ReadInputAsync(cancellationToken);
        view.HideInput();
        if (ended is int code)
        {
            return code; // the connection loop gave up
        }

        return await EndAsync(connectionLoop);
    }

    /// <summary>Reads and handles lines until input ends or the user quits (null), or the connection loop ends the session (its exit code).</summary>
    private async Task<int?> ReadInputAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            string? line;
            try
            {
                Task<string?> reading = input.ReadLineAsync(cancellationToken);
                if (await Task.WhenAny(reading, _ended.Task).WaitAsync(cancellationToken) == _ended.Task)
                {
                    return await _ended.Task;
                }

                line = await reading;
            }
            catch (OperationCanceledException)
            {
                return null; // Ctrl-C
            }

            if (line is null || !await HandleAsync(line.Trim(), cancellationToken))
            {
                return null;
            }
        }
    }

    /// <summary>Waits (bounded) for the acknowledgements of what was sent, says goodbye, and returns the exit code.</summary>
    private async Task<int> EndAsync(Task connectionLoop)
    {
        ChatClient? client;
        Task acknowledged;
        lock (_gate)
        {
            client = _client;
            _allAcknowledged = _sends.Count == 0 ? null : new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            acknowledged = _allAcknowledged?.Task ?? Task.CompletedTask;
        }

        if (client is null)
        {
            // Offline: stop trying to reconnect.
            lock (_gate)
            {
                _quitting = true;
            }

            await _stopping.CancelAsync();
            await connectionLoop.WaitAsync(ReplyTimeout, settings.TimeProvider).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            view.Print($"* left while offline from {settings.Target}");
            return 1;
        }

        await acknowledged.WaitAsync(AckTimeout, settings.TimeProvider).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        lock (_gate)
        {
            _quitting = true;
            foreach (PendingSend send in _sends)
            {
                view.Print($"! not confirmed within {AckTimeout.TotalSeconds:0} s (it may or may not be stored): [#{ChatView.Printable(send.Room)}] {ChatView.Printable(send.Content)}");
                _undelivered++;
            }

            _sends.Clear();
        }

        await client.CloseAsync(); // quit: the server answers what came before it, then closes
        await connectionLoop.WaitAsync(ReplyTimeout, settings.TimeProvider).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _stopping.CancelAsync();
        lock (_gate)
        {
            return _undelivered == 0 ? 0 : 1;
        }
    }

    public void Dispose() => _stopping.Dispose();

    /// <summary>The prompt: the current room, and whether the client is offline.</summary>
    private string Prompt() =>
        (_client is null ? "(offline) " : "") + (_room is null ? "> " : $"#{ChatView.Printable(_room)}> ");

    /// <summary>The protocol client's settings: every answer within the login timeout, on the session's clock.</summary>
    private ChatClientOptions ClientOptions() => new() { RequestTimeout = LoginTimeout, TimeProvider = settings.TimeProvider };
}
