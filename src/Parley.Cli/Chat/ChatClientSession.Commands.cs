using Parley.Chat;

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
                Show(line, client => client.ListRoomsAsync(), rooms =>
                    string.Join(Environment.NewLine, rooms.Rooms.Select(r => $"  #{ChatView.Printable(r.Name)} ({r.Users} here): {ChatView.Printable(r.Description)}")));
                break;
            case "/who" when argument is not null || _room is not null:
                string whose = argument ?? _room!;
                Show(line, client => client.ListUsersAsync(whose), users =>
                    $"* in #{ChatView.Printable(users.Room)}: {ChatView.Printable(string.Join(", ", users.Users))}");
                break;
            case "/history" when argument is not null || _room is not null:
                string room = argument ?? _room!;
                int limit = words.Length > 2 && int.TryParse(words[2], out int n) ? Math.Clamp(n, 1, RoomCatchUp.PageSize) : 20;
                Show(line, client => client.GetHistoryAsync(room, limit: limit), HistoryLines);
                break;
            default:
                view.Print(Help);
                break;
        }

        return true;
    }

    /// <summary>Sends text to the current room, or says why it was not sent; the acknowledgement is awaited apart.</summary>
    private void SendText(string text)
    {
        lock (_gate)
        {
            if (_client is not { } client)
            {
                NotSent($"offline, reconnecting to {settings.Target}", text);
                return;
            }

            if (_room is not { } room)
            {
                NotSent("join a room first: /join general (or /rooms)", text);
                return;
            }

            // Listed before it is sent, under the lock the connection loop takes to go offline:
            // a drop either finds it here (and says it was not confirmed) or comes after its answer.
            var send = new PendingSend(room, text);
            _sends.Add(send);
            _ = AwaitAcknowledgementAsync(client.SendMessageAsync(room, text), send);
        }
    }

    /// <summary>The answer to one sent line: stored (printed in line mode), refused, or lost with the connection.</summary>
    private async Task AwaitAcknowledgementAsync(Task<MessageAckEvent> sending, PendingSend send)
    {
        string? refusal = null;
        MessageAckEvent? ack = null;
        try
        {
            ack = await sending;
        }
        catch (ChatServerException refused)
        {
            refusal = $"! {ChatView.Printable(refused.Code)}: {ChatView.Printable(refused.Error.Message)}";
        }
        catch (ArgumentException invalid)
        {
            refusal = $"! not sent ({invalid.Message}): {ChatView.Printable(send.Content)}";
        }
        catch (Exception ex) when (IsDropped(ex))
        {
            return; // still listed: GoOffline says it was not confirmed
        }

        lock (_gate)
        {
            if (!_sends.Remove(send))
            {
                return; // already reported (offline, or not confirmed when leaving)
            }

            if (ack is not null)
            {
                if (settings.LineMode)
                {
                    view.Print($"* stored #{ChatView.Printable(ack.Room)} id {ack.Id}");
                }
            }
            else
            {
                view.Print(refusal!);
                _undelivered++;
            }

            if (_sends.Count == 0)
            {
                _allAcknowledged?.TrySetResult();
            }
        }
    }

    /// <summary>
    /// <c>/join</c> and <c>/leave</c>: sent, then the next line waits (up to 10 s) for the
    /// server's answer, so the current room changes only when the server confirms it and a
    /// script's next line goes where the user meant. An answer that comes later still counts.
    /// </summary>
    private async Task ChangeRoomAsync(string room, bool join, string line, CancellationToken cancellationToken)
    {
        Task answered;
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

            if (_client is not { } client)
            {
                NotSent($"offline, reconnecting to {settings.Target}", line);
                return;
            }

            answered = join ? JoinAsync(client, room, line) : LeaveAsync(client, room, line);
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

    private async Task JoinAsync(ChatClient client, string room, string line)
    {
        try
        {
            UserJoinedRoomEvent joined = await client.JoinRoomAsync(room);
            lock (_gate)
            {
                if (client == _client)
                {
                    OnJoined(joined);
                }
            }
        }
        catch (Exception ex) when (!IsDropped(ex))
        {
            Refused(client, line, ex);
        }
        catch (Exception)
        {
            // Dropped: GoOffline says so, and the room is not joined.
        }
    }

    private async Task LeaveAsync(ChatClient client, string room, string line)
    {
        try
        {
            await client.LeaveRoomAsync(room);
            lock (_gate)
            {
                if (client == _client)
                {
                    OnLeft(room);
                }
            }
        }
        catch (Exception ex) when (!IsDropped(ex))
        {
            Refused(client, line, ex);
        }
        catch (Exception)
        {
            // Dropped: GoOffline says so; the room is rejoined on reconnect.
        }
    }

    /// <summary><c>/rooms</c>, <c>/who</c>, <c>/history</c>: asked, and printed when the answer comes.</summary>
    private void Show<T>(string line, Func<ChatClient, Task<T>> request, Func<T, string> text)
    {
        lock (_gate)
        {
            if (_client is not { } client)
            {
                NotSent($"offline, reconnecting to {settings.Target}", line);
                return;
            }

            _ = ShowAsync(client, request(client), text, line);
        }
    }

    private async Task ShowAsync<T>(ChatClient client, Task<T> answer, Func<T, string> text, string line)
    {
        try
        {
            T result = await answer;
            lock (_gate)
            {
                view.Print(text(result));
            }
        }
        catch (Exception ex) when (!IsDropped(ex))
        {
            Refused(client, line, ex);
        }
        catch (Exception)
        {
            // Dropped: GoOffline says so.
        }
    }

    /// <summary>A request the server refused (its error printed), or one that could not be sent (counted as not sent).</summary>
    private void Refused(ChatClient client, string line, Exception ex)
    {
        lock (_gate)
        {
            switch (ex)
            {
                case ChatServerException refused when client == _client:
                    PrintError(refused.Error);
                    break;
                case ArgumentException invalid:
                    NotSent(invalid.Message, line);
                    break;
                case ChatServerException:
                    break; // an answer from a connection that is gone
                default:
                    view.Print($"! {ChatView.Printable(line)} failed: {ChatView.Printable(ex.Message)}");
                    break;
            }
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

    private void NotSent(string why, string line)
    {
        _undelivered++;
        view.Print($"! not sent ({why}): {ChatView.Printable(line)}");
    }
}
