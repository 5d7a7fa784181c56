using Parley.Chat;
using Spectre.Console;

namespace Parley.Cli.Chat;

internal sealed partial class ChatClientSession
{
    /// <summary>The outcome of logging in on one connection.</summary>
    private readonly record struct Login(string? User, string Rooms, bool Open, string? Error, bool Fatal, int ExitCode = 1)
    {
        public static Login Failed(string error, bool fatal = false, int exitCode = 1) => new(null, "", false, error, fatal, exitCode);
    }

    /// <summary>
    /// Gets a session on a fresh connection. <see cref="ChatClient.StartAsync"/> tells the two
    /// server modes apart without guessing from silence: an open server greets before it answers
    /// the client's ping; a server requiring login answers the ping and waits for <c>login</c>,
    /// whose credentials are asked for the first time only when it is needed. On failure the
    /// connection is closed and the client is null.
    /// </summary>
    private async Task<(ChatClient? Client, Login Login)> LogInAsync(Connection connection, bool firstTime, CancellationToken cancellationToken)
    {
        ChatClient client;
        try
        {
            client = await ChatClient.StartAsync(connection, ClientOptions(), cancellationToken);
        }
        catch (Exception ex) when (ex is ChatConnectionClosedException or TimeoutException or OperationCanceledException)
        {
            connection.Abort();
            return (null, Failed(ex));
        }

        LoginSuccessfulEvent? session = client.Session;
        bool open = session is not null;
        if (session is null)
        {
            if (_credentials is null && firstTime)
            {
                (_credentials, string? missing) = await AskCredentialsAsync(cancellationToken);
                if (missing is not null)
                {
                    await client.CloseAsync();
                    return (null, Login.Failed(missing, fatal: true, exitCode: 2));
                }
            }

            if (_credentials is not { } credentials)
            {
                await client.CloseAsync();
                return (null, Login.Failed($"{settings.Target} now requires a login, and this session has none", fatal: true));
            }

            try
            {
                session = await client.LoginAsync(credentials.User, credentials.Password, cancellationToken);
            }
            catch (ChatServerException ex)
            {
                await client.CloseAsync();
                return (null, Login.Failed($"{ex.Code}: {ChatView.Printable(ex.Error.Message)}", fatal: ex.Code == ErrorCodes.LoginFailed));
            }
            catch (Exception ex) when (ex is ChatConnectionClosedException or TimeoutException or OperationCanceledException)
            {
                connection.Abort();
                await client.Completion;
                return (null, Failed(ex));
            }
        }

        return (client, new Login(session.User, string.Join(", ", session.Rooms.Select(r => r.Name)), open, null, Fatal: false));
    }

    /// <summary>Why a session could not start, for people; fatal when the server is not a chat server.</summary>
    private Login Failed(Exception ex) => ex switch
    {
        ChatConnectionClosedException { ServerError: { } said } => Login.Failed($"{said.Code}: {ChatView.Printable(said.Message)}"),
        ChatConnectionClosedException { Reason: CloseReason.ProtocolError } notChat =>
            Login.Failed($"{settings.Target} does not speak the chat protocol ({notChat.Message})", fatal: true),
        ChatConnectionClosedException closed => Login.Failed($"{settings.Target} closed the connection before the session started ({closed.Reason})"),
        TimeoutException => Login.Failed($"{settings.Target} did not answer within {LoginTimeout.TotalSeconds:0} s"),
        _ => Login.Failed($"{settings.Target}: {ex.Message}"),
    };

    /// <summary>The user name and password for a server requiring login: asked for at a terminal; in line mode <c>--user</c> and the first input line.</summary>
    private async Task<((string, string)? Credentials, string? Missing)> AskCredentialsAsync(CancellationToken cancellationToken)
    {
        if (settings.LineMode)
        {
            if (settings.User is null)
            {
                return (null, $"{settings.Target} requires a login: give --user (the password is read from the first input line)");
            }

            string? password = await input.ReadLineAsync(cancellationToken);
            return password is null
                ? (null, $"{settings.Target} requires a login: the password was expected on the first input line")
                : ((settings.User, password), null);
        }

        string user = settings.User ?? AnsiConsole.Prompt(new TextPrompt<string>("user:"));
        string secret = AnsiConsole.Prompt(new TextPrompt<string>("password:").Secret());
        return ((user, secret), null);
    }

    /// <summary>Waits until the connection ends, then reconnects; ends the session when the server cannot be reached again.</summary>
    private async Task KeepConnectedAsync(ChatClient client, CancellationToken cancellationToken)
    {
        using CancellationTokenSource stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        while (true)
        {
            await client.Completion;
            client.Connection.Abort(); // already closed by the peer, or reset: release it now
            string reason = client.Failure is { Reason: CloseReason.ProtocolError } notChat
                ? $"not a chat server: {notChat.Message}"
                : Reason(client.Connection.CloseReason);
            if (!GoOffline(reason))
            {
                return;
            }

            ChatClient? next = await ReconnectAsync(stop.Token);
            if (next is null)
            {
                return;
            }

            client = next;
        }
    }

    /// <summary>Marks the session offline and says what that means for what was in flight; false when it should not reconnect.</summary>
    private bool GoOffline(string reason)
    {
        lock (_gate)
        {
            _client = null;
            foreach (PendingSend send in _sends)
            {
                view.Print($"! not confirmed before the connection dropped (it may or may not be stored): [#{ChatView.Printable(send.Room)}] {ChatView.Printable(send.Content)}");
                _undelivered++;
            }

            _sends.Clear();
            _allAcknowledged?.TrySetResult();

            // An unfinished catch-up is dropped whole: the last id seen stays where it was, so the next one fetches it all again.
            _catchUps.Clear();
            view.SetPrompt(Prompt());
            if (_quitting)
            {
                return false;
            }

            view.Print($"* disconnected from {settings.Target} ({reason})");
            if (settings.ReconnectAttempts == 0)
            {
                view.Print("! offline, not reconnecting (--reconnect-attempts 0); exiting");
                _ended.TrySetResult(1);
                return false;
            }

            view.Print($"* offline: reconnecting (up to {settings.ReconnectAttempts} attempts); what you type meanwhile is not sent");
            return true;
        }
    }

    /// <summary>Tries to get a session back with back-off: connect, log in as before, rejoin the rooms. Null when it gave up (the session is ended) or is stopping.</summary>
    private async Task<ChatClient?> ReconnectAsync(CancellationToken cancellationToken)
    {
        for (int attempt = 1; attempt <= settings.ReconnectAttempts; attempt++)
        {
            TimeSpan delay = ReconnectSchedule.DelayBefore(attempt);
            view.Print($"* reconnecting to {settings.Target} in {delay.TotalSeconds:0} s (attempt {attempt} of {settings.ReconnectAttempts})");
            try
            {
                await Task.Delay(delay, settings.TimeProvider, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return null; // the user left
            }

            ConnectResult connected = await settings.Connect(cancellationToken);
            if (connected.Connection is not { } connection)
            {
                view.Print($"* attempt {attempt} failed: {connected.Error}");
                continue;
            }

            (ChatClient? client, Login login) = await LogInAsync(connection, firstTime: false, cancellationToken);
            if (client is null || login.Error is not null)
            {
                view.Print($"* attempt {attempt} failed: {login.Error}");
                if (login.Fatal)
                {
                    view.Print($"! gave up: {settings.Target} refused this session's login; exiting");
                    _ended.TrySetResult(1);
                    return null;
                }

                continue;
            }

            if (GoOnline(client, login.User!))
            {
                return client;
            }

            await client.CloseAsync();
            return null;
        }

        view.Print($"! gave up: {settings.Target} could not be reached again after {settings.ReconnectAttempts} attempts; exiting");
        _ended.TrySetResult(1);
        return null;
    }

    /// <summary>Back online: rejoins every room the session was in (each then catches up). False when the user left meanwhile.</summary>
    private bool GoOnline(ChatClient client, string user)
    {
        lock (_gate)
        {
            if (_quitting)
            {
                return false;
            }

            string renamed = user == _me ? "" : $" (an open server names each connection: you were {ChatView.Printable(_me ?? "")})";
            _client = client;
            _me = user;
            Attach(client);
            view.Print($"* reconnected to {settings.Target} as {ChatView.Printable(user)}{renamed}");
            foreach (string room in _joined)
            {
                // Started before the join is sent: live messages that arrive with or after the
                // join's answer are held, and merged with the pages of what was missed.
                if (_lastSeen.TryGetValue(room, out long lastSeen))
                {
                    _catchUps[room] = new RoomCatchUp(room, lastSeen);
                }

                _ = RejoinAsync(client, room);
            }

            view.SetPrompt(Prompt());
            return true;
        }
    }

    private static string Reason(CloseReason reason) => reason switch
    {
        CloseReason.RemoteClose => "the server closed the connection",
        CloseReason.ConnectionReset => "connection reset",
        CloseReason.IdleTimeout => "no answer from the server",
        CloseReason.ServerShutdown => "the server is shutting down",
        _ => reason.ToString(),
    };
}
