using System.Text.Json;
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
    /// Gets a session on a fresh connection. A ping tells the two server modes apart without
    /// guessing from silence: a server in open mode greets (<c>login_successful</c>) before it
    /// reads anything, so the greeting comes before the <c>pong</c>; a server requiring login
    /// answers the ping and waits for <c>login</c>.
    /// </summary>
    private async Task<Login> LogInAsync(ServerEvents events, bool firstTime, CancellationToken cancellationToken)
    {
        Connection connection = events.Connection;
        Send(connection, new { _ct = "ping" });
        bool timedOut = false;
        using ITimer deadline = settings.TimeProvider.CreateTimer(
            _ =>
            {
                timedOut = true;
                connection.Abort();
            },
            null,
            LoginTimeout,
            Timeout.InfiniteTimeSpan);
        using CancellationTokenRegistration stopping = cancellationToken.Register(() => connection.Abort());
        bool sentLogin = false;
        while (await events.NextAsync() is { } document)
        {
            using (document)
            {
                JsonElement e = document.RootElement;
                switch (Field(e, "_et"))
                {
                    case "login_successful":
                        string rooms = string.Join(", ", Items(e, "rs").Select(r => Field(r, "n")));
                        return new Login(Field(e, "u"), rooms, Open: !sentLogin, null, Fatal: false);
                    case "pong" when !sentLogin:
                        if (_credentials is null && firstTime)
                        {
                            deadline.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan); // a person may take a while to type
                            (_credentials, string? missing) = await AskCredentialsAsync(cancellationToken);
                            if (missing is not null)
                            {
                                return Login.Failed(missing, fatal: true, exitCode: 2);
                            }

                            deadline.Change(LoginTimeout, Timeout.InfiniteTimeSpan);
                        }

                        if (_credentials is not { } credentials)
                        {
                            return Login.Failed($"{settings.Target} now requires a login, and this session has none", fatal: true);
                        }

                        Send(connection, new { _ct = "login", u = credentials.User, p = credentials.Password });
                        sentLogin = true;
                        break;
                    case "error":
                        string code = Field(e, "code");
                        return Login.Failed($"{code}: {ChatView.Printable(Field(e, "message"))}", fatal: code == "login_failed");
                }
            }
        }

        return Login.Failed(
            events.NotJson is { } notJson ? $"{settings.Target} does not speak the chat protocol (not JSON: {notJson})"
            : timedOut ? $"{settings.Target} did not answer within {LoginTimeout.TotalSeconds:0} s"
            : $"{settings.Target} closed the connection before the session started ({connection.CloseReason})",
            fatal: events.NotJson is not null);
    }

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

    /// <summary>Reads events until the connection ends, then reconnects; ends the session when the server cannot be reached again.</summary>
    private async Task KeepConnectedAsync(ServerEvents events, CancellationToken cancellationToken)
    {
        using CancellationTokenSource stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        while (true)
        {
            await using (events)
            {
                while (await events.NextAsync() is { } document)
                {
                    using (document)
                    {
                        OnEvent(document.RootElement);
                    }
                }
            }

            Connection lost = events.Connection;
            lost.Abort(); // already closed by the peer, or reset: release it now
            string reason = events.NotJson is { } notJson ? $"not a chat server: {notJson}" : Reason(lost.CloseReason);
            if (!GoOffline(reason))
            {
                return;
            }

            ServerEvents? next = await ReconnectAsync(stop.Token);
            if (next is null)
            {
                return;
            }

            events = next;
        }
    }

    /// <summary>Marks the session offline and says what that means for what was in flight; false when it should not reconnect.</summary>
    private bool GoOffline(string reason)
    {
        lock (_gate)
        {
            _connection = null;
            foreach (PendingSend send in _sends)
            {
                view.Print($"! not confirmed before the connection dropped (it may or may not be stored): [#{ChatView.Printable(send.Room)}] {ChatView.Printable(send.Content)}");
                _undelivered++;
            }

            _sends.Clear();
            _allAcknowledged?.TrySetResult();
            foreach (PendingRoomReply pending in _joins.Concat(_leaves))
            {
                pending.Done?.TrySetResult(false);
            }

            // An unfinished catch-up is dropped whole: the last id seen stays where it was, so the next one fetches it all again.
            _joins.Clear();
            _leaves.Clear();
            _histories.Clear();
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
    private async Task<ServerEvents?> ReconnectAsync(CancellationToken cancellationToken)
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

            var events = new ServerEvents(connection);
            Login login = await LogInAsync(events, firstTime: false, cancellationToken);
            if (login.Error is not null)
            {
                await events.DisposeAsync();
                connection.Abort();
                view.Print($"* attempt {attempt} failed: {login.Error}");
                if (login.Fatal)
                {
                    view.Print($"! gave up: {settings.Target} refused this session's login; exiting");
                    _ended.TrySetResult(1);
                    return null;
                }

                continue;
            }

            if (GoOnline(connection, login.User!))
            {
                return events;
            }

            await events.DisposeAsync();
            await connection.CloseAsync();
            return null;
        }

        view.Print($"! gave up: {settings.Target} could not be reached again after {settings.ReconnectAttempts} attempts; exiting");
        _ended.TrySetResult(1);
        return null;
    }

    /// <summary>Back online: rejoins every room the session was in (each then catches up). False when the user left meanwhile.</summary>
    private bool GoOnline(Connection connection, string user)
    {
        lock (_gate)
        {
            if (_quitting)
            {
                return false;
            }

            string renamed = user == _me ? "" : $" (an open server names each connection: you were {ChatView.Printable(_me ?? "")})";
            _connection = connection;
            _me = user;
            view.Print($"* reconnected to {settings.Target} as {ChatView.Printable(user)}{renamed}");
            foreach (string room in _joined)
            {
                _joins.Enqueue(new PendingRoomReply(room, RoomReplyPurpose.Rejoin, null));
                Send(connection, new { _ct = "join_room", r = room });
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
