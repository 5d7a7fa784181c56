namespace Parley.Cli.Chat;

internal sealed partial class ChatClientSession
{
    private const string Help =
        "commands: /join ROOM, /leave [ROOM], /room ROOM (switch between joined rooms), /rooms, /who [ROOM], /history [ROOM] [N], /quit; any other text goes to the current room";

    /// <summary>Acts on one typed line; false to quit.</summary>
    private async Task<bool> HandleAsync(string line, CancellationToken cancellationToken)
    {
        if (line.Length == 0)
        {
            return true;
        }

        if (!line.StartsWith('/'))
        {
            SendText(line);
            return true;
        }

        string[] words = line.Split(' ', 3, StringSplitOptions.RemoveEmptyEntries);
        string? argument = words.Length > 1 ? words[1] : null;
        switch (words[0])
        {
            case "/quit" or "/exit":
                return false;
            case "/join" when argument is not null:
                await ChangeRoomAsync(argument, join: true, line, cancellationToken);
                break;
            case "/leave" when argument is not null || _room is not null:
                await ChangeRoomAsync(argument ?? _room!, join: false, line, cancellationToken);
                break;
            case "/room" when argument is not null:
                SwitchTo(argument);
                break;
            case "/rooms":
                Request(line, new { _ct = "list_rooms" });
                break;
            case "/who" when argument is not null || _room is not null:
                Request(line, new { _ct = "list_users", r = argument ?? _room });
                break;
            case "/history" when argument is not null || _room is not null:
                string room = argument ?? _room!;
                int limit = words.Length > 2 && int.TryParse(words[2], out int n) ? Math.Clamp(n, 1, RoomCatchUp.PageSize) : 20;
                lock (_gate)
                {
                    if (Request(line, new { _ct = "history", r = room, limit }))
                    {
                        _histories.Enqueue(new HistoryRequest(room, HistoryPurpose.Show));
                    }
                }

                break;
            default:
                view.Print(Help);
                break;
        }

        return true;
    }

    /// <summary>Sends text to the current room, or says why it was not sent.</summary>
    private void SendText(string text)
    {
        lock (_gate)
        {
            if (_connection is not { } connection)
            {
                NotSent($"offline, reconnecting to {settings.Target}", text);
                return;
            }

            if (_room is not { } room)
            {
                NotSent("join a room first: /join general (or /rooms)", text);
                return;
            }

            SendStatus status = Send(connection, new { _ct = "send_message", r = room, c = text });
            if (status != SendStatus.Queued)
            {
                NotSent($"the connection is {status}", text);
                return;
            }

            _sends.Add(new PendingSend(room, text));
        }
    }

    /// <summary>
    /// <c>/join</c> and <c>/leave</c>: sent, then the next line waits (up to 10 s) for the
    /// server's answer, so the current room changes only when the server confirms it and a
    /// script's next line goes where the user meant.
    /// </summary>
    private async Task ChangeRoomAsync(string room, bool join, string line, CancellationToken cancellationToken)
    {
        Task<bool> answered;
        lock (_gate)
        {
            if (join && _joined.Contains(room))
            {
                SwitchTo(room); // no need to ask: the server would answer already_member
                return;
            }

            if (!join && !_joined.Contains(room))
            {
                view.Print($"! you are not in #{ChatView.Printable(room)}");
                return;
            }

            if (!Request(line, new { _ct = join ? "join_room" : "leave_room", r = room }))
            {
                return;
            }

            var done = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            (join ? _joins : _leaves).Enqueue(new PendingRoomReply(room, RoomReplyPurpose.User, done));
            answered = done.Task;
        }

        try
        {
            await answered.WaitAsync(ReplyTimeout, settings.TimeProvider, cancellationToken);
        }
        catch (TimeoutException)
        {
            view.Print($"! no answer to {ChatView.Printable(line)} within {ReplyTimeout.TotalSeconds:0} s");
        }
    }

    /// <summary><c>/room</c>: makes a joined room the current one.</summary>
    private void SwitchTo(string room)
    {
        lock (_gate)
        {
            if (!_joined.Contains(room))
            {
                view.Print($"! you are not in #{ChatView.Printable(room)}: /join {ChatView.Printable(room)} first");
                return;
            }

            _room = room;
            view.Print($"* now sending to #{ChatView.Printable(room)}");
            view.SetPrompt(Prompt());
        }
    }

    /// <summary>Sends a command, or says it was not sent; true when sent.</summary>
    private bool Request(string line, object command)
    {
        lock (_gate)
        {
            if (_connection is not { } connection)
            {
                NotSent($"offline, reconnecting to {settings.Target}", line);
                return false;
            }

            SendStatus status = Send(connection, command);
            if (status != SendStatus.Queued)
            {
                NotSent($"the connection is {status}", line);
                return false;
            }

            return true;
        }
    }

    private void NotSent(string why, string line)
    {
        _undelivered++;
        view.Print($"! not sent ({why}): {ChatView.Printable(line)}");
    }
}
