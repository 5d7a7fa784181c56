using System.Globalization;
using Parley.Chat;

namespace Parley.Cli.Chat;

internal sealed partial class ChatClientSession
{
    /// <summary>Hooks the session to a new client's events (they run on its receive loop, in order).</summary>
    private void Attach(ChatClient client)
    {
        client.MessageReceived += message => OnMessage(client, message);
        client.PresenceChanged += participation => OnPresence(client, participation);
        client.ErrorReceived += error => OnServerError(client, error);
    }

    private void OnMessage(ChatClient client, ChatMessage message)
    {
        lock (_gate)
        {
            if (client != _client)
            {
                return;
            }

            if (_catchUps.TryGetValue(message.Room, out RoomCatchUp? catchUp))
            {
                // Printed with the missed ones, in id order, once the history has arrived.
                if (!catchUp.AddLive(message.Id, MessageLine(message)))
                {
                    FinishCatchUp(catchUp);
                }

                return;
            }

            view.Print(MessageLine(message));
            Seen(message.Room, message.Id);
        }
    }

    private void OnPresence(ChatClient client, RoomParticipationEvent participation)
    {
        lock (_gate)
        {
            // "you joined" is printed from the join's answer, "you left" from the leave's.
            if (client == _client && participation.User != _me)
            {
                view.Print($"* {ChatView.Printable(participation.User)} {(participation.Joined ? "joined" : "left")} #{ChatView.Printable(participation.Room)}");
            }
        }
    }

    private void OnServerError(ChatClient client, ChatError error)
    {
        lock (_gate)
        {
            if (client == _client)
            {
                PrintError(error);
            }
        }
    }

    /// <summary>The answer to a join the user typed: the room becomes current.</summary>
    private void OnJoined(UserJoinedRoomEvent joined)
    {
        string room = joined.Room;
        _joined.Add(room);
        _room = room;
        view.Print($"* you joined #{ChatView.Printable(room)} (here: {ChatView.Printable(string.Join(", ", joined.Users))})");
        view.SetPrompt(Prompt());
        if (!_lastSeen.ContainsKey(room) && _client is { } client)
        {
            // The room's newest id: after a reconnect, everything past it (or past what arrived since) was missed.
            _ = BaselineAsync(client, room);
        }
    }

    /// <summary>The answer to a leave the user typed.</summary>
    private void OnLeft(string room)
    {
        _joined.Remove(room);
        _catchUps.Remove(room);
        _lastSeen.Remove(room);
        if (_room == room)
        {
            _room = null;
        }

        view.Print($"* you left #{ChatView.Printable(room)}");
        view.SetPrompt(Prompt());
    }

    /// <summary>After a reconnect: rejoins a room and fetches what was missed in it.</summary>
    private async Task RejoinAsync(ChatClient client, string room)
    {
        UserJoinedRoomEvent joined;
        try
        {
            joined = await client.JoinRoomAsync(room);
        }
        catch (ChatServerException refused)
        {
            lock (_gate)
            {
                if (client != _client)
                {
                    return;
                }

                // The room is gone (or full for us): stop acting as if we were in it.
                PrintError(refused.Error);
                _joined.Remove(room);
                _lastSeen.Remove(room);
                _catchUps.Remove(room);
                view.Print($"! could not rejoin #{ChatView.Printable(room)}");
                if (_room == room)
                {
                    _room = null;
                    view.SetPrompt(Prompt());
                }
            }

            return;
        }
        catch (Exception ex) when (IsDropped(ex))
        {
            return; // GoOffline says so
        }

        RoomCatchUp? catchUp;
        lock (_gate)
        {
            if (client != _client)
            {
                return;
            }

            view.Print($"* rejoined #{ChatView.Printable(room)} (here: {ChatView.Printable(string.Join(", ", joined.Users))})");
            if (!_catchUps.TryGetValue(room, out catchUp))
            {
                view.Print($"* what was said in #{ChatView.Printable(room)} while offline is unknown: /history {ChatView.Printable(room)}");
                return;
            }
        }

        await CatchUpAsync(client, catchUp);
    }

    /// <summary>Fetches history pages back to the last message seen, then prints what was missed (with what arrived meanwhile) in id order.</summary>
    private async Task CatchUpAsync(ChatClient client, RoomCatchUp catchUp)
    {
        long? before = null;
        while (true)
        {
            HistoryEvent page;
            try
            {
                page = await client.GetHistoryAsync(catchUp.Room, before, RoomCatchUp.PageSize);
            }
            catch (ChatServerException refused)
            {
                lock (_gate)
                {
                    if (client == _client && _catchUps.Remove(catchUp.Room))
                    {
                        PrintError(refused.Error);
                        view.Print($"! could not fetch what was missed in #{ChatView.Printable(catchUp.Room)}: /history {ChatView.Printable(catchUp.Room)}");
                    }
                }

                return;
            }
            catch (Exception ex) when (IsDropped(ex))
            {
                return;
            }

            lock (_gate)
            {
                if (client != _client || !_catchUps.TryGetValue(catchUp.Room, out RoomCatchUp? current) || current != catchUp)
                {
                    return; // offline again, or the catch-up already ended (its live buffer filled)
                }

                before = catchUp.AddPage([.. page.Messages.Select(m => (m.Id, MessageLine(m)))], page.More);
                if (before is null)
                {
                    FinishCatchUp(catchUp);
                    return;
                }
            }
        }
    }

    /// <summary>After a first join: the room's newest id, so a later reconnect knows what it missed.</summary>
    private async Task BaselineAsync(ChatClient client, string room)
    {
        try
        {
            HistoryEvent newest = await client.GetHistoryAsync(room, before: null, limit: 1);
            lock (_gate)
            {
                if (client == _client)
                {
                    Seen(room, newest.Messages.Count == 0 ? 0 : newest.Messages.Max(m => m.Id));
                }
            }
        }
        catch (ChatServerException refused)
        {
            lock (_gate)
            {
                PrintError(refused.Error);
            }
        }
        catch (Exception ex) when (IsDropped(ex))
        {
            // Offline: the next reconnect says what is unknown.
        }
    }

    /// <summary>Prints what was missed in a room, in id order, and takes up live delivery again.</summary>
    private void FinishCatchUp(RoomCatchUp catchUp)
    {
        _catchUps.Remove(catchUp.Room);
        string room = ChatView.Printable(catchUp.Room);
        if (catchUp.Lines.Count > 0)
        {
            string count = catchUp.Lines.Count == 1 ? "1 message" : $"{catchUp.Lines.Count} messages";
            view.Print($"* #{room} since the connection dropped ({count}{(catchUp.Truncated ? "; older ones not shown: /history " + room + " 200" : "")}):");
            foreach (string line in catchUp.Lines)
            {
                view.Print(line);
            }
        }

        Seen(catchUp.Room, catchUp.NewestId);
    }

    private void Seen(string room, long id)
    {
        if (!_lastSeen.TryGetValue(room, out long seen) || id > seen)
        {
            _lastSeen[room] = id;
        }
    }

    private void PrintError(ChatError error) => view.Print($"! {ChatView.Printable(error.Code)}: {ChatView.Printable(error.Message)}");

    private static string HistoryLines(HistoryEvent history) => history.Messages.Count == 0
        ? $"* no history in #{ChatView.Printable(history.Room)}"
        : string.Join(Environment.NewLine, history.Messages.Select(m =>
            $"  [#{ChatView.Printable(m.Room)} {m.Timestamp.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)}] {ChatView.Printable(m.User)}: {ChatView.Printable(m.Content)}"));

    private static string MessageLine(ChatMessage m) => $"[#{ChatView.Printable(m.Room)}] {ChatView.Printable(m.User)}: {ChatView.Printable(m.Content)}";

    /// <summary>The connection went away under a request: the connection loop reports it, so the request says nothing.</summary>
    private static bool IsDropped(Exception ex) => ex is ChatConnectionClosedException or TimeoutException;
}
