using System.Globalization;
using System.Text.Json;

namespace Parley.Cli.Chat;

internal sealed partial class ChatClientSession
{
    private static readonly JsonElement NoItems = JsonElement.Parse("[]");

    /// <summary>Acts on one event from the server (on the connection loop).</summary>
    private void OnEvent(JsonElement e)
    {
        lock (_gate)
        {
            try
            {
                Dispatch(e);
            }
            catch (Exception ex) when (ex is InvalidOperationException or KeyNotFoundException or FormatException)
            {
                // A field of an unexpected type or shape: show the event as it came rather than fail the session.
                view.Print($"? {ChatView.Printable(e.GetRawText())}");
            }
        }
    }

    private void Dispatch(JsonElement e)
    {
        switch (Field(e, "_et"))
        {
            case "user_joined_room":
                OnJoined(Field(e, "r"), string.Join(", ", Items(e, "us").Select(u => u.ToString())));
                break;
            case "room_participation":
                OnParticipation(Field(e, "r"), Field(e, "u"), Field(e, "s"));
                break;
            case "user_message":
                OnMessage(Field(e, "r"), Id(e), MessageLine(Field(e, "r"), e));
                break;
            case "message_ack":
                OnAcknowledged(Field(e, "r"), Id(e));
                break;
            case "history":
                OnHistory(Field(e, "r"), e);
                break;
            case "rooms":
                view.Print(string.Join(Environment.NewLine, Items(e, "rs").Select(r => $"  #{Safe(r, "n")} ({Safe(r, "m")} here): {Safe(r, "d")}")));
                break;
            case "room_users":
                view.Print($"* in #{Safe(e, "r")}: {ChatView.Printable(string.Join(", ", Items(e, "us").Select(u => u.ToString())))}");
                break;
            case "error":
                OnError(Field(e, "ct"), Field(e, "code"), $"! {Safe(e, "code")}: {Safe(e, "message")}");
                break;
            case "pong" or "login_successful":
                break; // the answer to the ping sent at login (after an open server's greeting)
            default:
                view.Print($"? {ChatView.Printable(e.GetRawText())}");
                break;
        }
    }

    private void OnJoined(string room, string users)
    {
        PendingRoomReply? pending = _joins.TryDequeue(out PendingRoomReply? next) ? next : null;
        _joined.Add(room);
        if (pending is { Purpose: RoomReplyPurpose.Rejoin })
        {
            view.Print($"* rejoined #{ChatView.Printable(room)} (here: {ChatView.Printable(users)})");
            if (_lastSeen.TryGetValue(room, out long lastSeen))
            {
                _catchUps[room] = new RoomCatchUp(room, lastSeen);
                RequestHistory(room, before: null, RoomCatchUp.PageSize, HistoryPurpose.CatchUp);
            }
            else
            {
                view.Print($"* what was said in #{ChatView.Printable(room)} while offline is unknown: /history {ChatView.Printable(room)}");
            }

            return;
        }

        _room = room;
        view.Print($"* you joined #{ChatView.Printable(room)} (here: {ChatView.Printable(users)})");
        view.SetPrompt(Prompt());
        if (!_lastSeen.ContainsKey(room))
        {
            // The room's newest id: after a reconnect, everything past it (or past what arrived since) was missed.
            RequestHistory(room, before: null, limit: 1, HistoryPurpose.Baseline);
        }

        pending?.Done?.TrySetResult(true);
    }

    private void OnParticipation(string room, string user, string what)
    {
        if (user != _me)
        {
            view.Print($"* {ChatView.Printable(user)} {ChatView.Printable(what)} #{ChatView.Printable(room)}");
            return;
        }

        if (what != "left")
        {
            return; // "you joined" was printed from user_joined_room
        }

        PendingRoomReply? pending = _leaves.TryDequeue(out PendingRoomReply? next) ? next : null;
        _joined.Remove(room);
        _catchUps.Remove(room);
        _lastSeen.Remove(room);
        if (_room == room)
        {
            _room = null;
        }

        view.Print($"* you left #{ChatView.Printable(room)}");
        view.SetPrompt(Prompt());
        pending?.Done?.TrySetResult(true);
    }

    private void OnMessage(string room, long id, string line)
    {
        if (_catchUps.TryGetValue(room, out RoomCatchUp? catchUp))
        {
            // Printed with the missed ones, in id order, once the history has arrived.
            if (!catchUp.AddLive(id, line))
            {
                FinishCatchUp(catchUp);
            }

            return;
        }

        view.Print(line);
        Seen(room, id);
    }

    private void OnAcknowledged(string room, long id)
    {
        if (_sends.Count > 0)
        {
            _sends.RemoveAt(0); // acknowledgements come in journal order, which is the order sent
        }

        if (_sends.Count == 0)
        {
            _allAcknowledged?.TrySetResult();
        }

        if (settings.LineMode)
        {
            view.Print($"* stored #{ChatView.Printable(room)} id {id}");
        }

        Seen(room, id);
    }

    private void OnHistory(string room, JsonElement e)
    {
        HistoryPurpose purpose = _histories.TryDequeue(out HistoryRequest request) && request.Room == room ? request.Purpose : HistoryPurpose.Show;
        List<JsonElement> messages = [.. Items(e, "ms")];
        switch (purpose)
        {
            case HistoryPurpose.Baseline:
                Seen(room, messages.Count == 0 ? 0 : messages.Max(Id));
                break;
            case HistoryPurpose.CatchUp when _catchUps.TryGetValue(room, out RoomCatchUp? catchUp):
                long? before = catchUp.AddPage([.. messages.Select(m => (Id(m), MessageLine(room, m)))], e.TryGetProperty("more", out JsonElement more) && more.ValueKind == JsonValueKind.True);
                if (before is long older)
                {
                    RequestHistory(room, older, RoomCatchUp.PageSize, HistoryPurpose.CatchUp);
                }
                else
                {
                    FinishCatchUp(catchUp);
                }

                break;
            case HistoryPurpose.CatchUp:
                break; // the catch-up already ended (its live buffer filled)
            default:
                view.Print(messages.Count == 0
                    ? $"* no history in #{ChatView.Printable(room)}"
                    : string.Join(Environment.NewLine, messages.Select(m =>
                        $"  [#{ChatView.Printable(room)} {m.GetProperty("t").GetDateTimeOffset().ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)}] {Safe(m, "u")}: {Safe(m, "c")}")));
                break;
        }
    }

    private void OnError(string command, string code, string text)
    {
        view.Print(text);
        switch (command)
        {
            case "join_room" when _joins.TryDequeue(out PendingRoomReply? join):
                if (join.Purpose == RoomReplyPurpose.Rejoin)
                {
                    // The room is gone (or full for us): stop acting as if we were in it.
                    _joined.Remove(join.Room);
                    _lastSeen.Remove(join.Room);
                    view.Print($"! could not rejoin #{ChatView.Printable(join.Room)}");
                    if (_room == join.Room)
                    {
                        _room = null;
                        view.SetPrompt(Prompt());
                    }
                }

                join.Done?.TrySetResult(false);
                break;
            case "leave_room" when _leaves.TryDequeue(out PendingRoomReply? leave):
                leave.Done?.TrySetResult(false);
                break;
            case "history" when _histories.TryDequeue(out HistoryRequest failed):
                if (failed.Purpose == HistoryPurpose.CatchUp && _catchUps.Remove(failed.Room))
                {
                    view.Print($"! could not fetch what was missed in #{ChatView.Printable(failed.Room)}: /history {ChatView.Printable(failed.Room)}");
                }

                break;
            case "send_message" when _sends.Count > 0:
                // A storage failure comes in journal order, like an acknowledgement; any other
                // refusal is immediate, so it is most likely about the newest line sent.
                _sends.RemoveAt(code == "storage_failed" ? 0 : _sends.Count - 1);
                _undelivered++;
                if (_sends.Count == 0)
                {
                    _allAcknowledged?.TrySetResult();
                }

                break;
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

    private void RequestHistory(string room, long? before, int limit, HistoryPurpose purpose)
    {
        if (_connection is { } connection
            && Send(connection, before is long id ? new { _ct = "history", r = room, before = id, limit } : new { _ct = "history", r = room, limit }) == SendStatus.Queued)
        {
            _histories.Enqueue(new HistoryRequest(room, purpose));
        }
    }

    private void Seen(string room, long id)
    {
        if (!_lastSeen.TryGetValue(room, out long seen) || id > seen)
        {
            _lastSeen[room] = id;
        }
    }

    private static string MessageLine(string room, JsonElement m) => $"[#{ChatView.Printable(room)}] {Safe(m, "u")}: {Safe(m, "c")}";

    private static long Id(JsonElement e) => e.TryGetProperty("id", out JsonElement id) && id.TryGetInt64(out long value) ? value : 0;

    /// <summary>A string field, or "" when the event has no such field (or is not an object).</summary>
    private static string Field(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out JsonElement value) ? value.ToString() : "";

    private static string Safe(JsonElement e, string name) => ChatView.Printable(Field(e, name));

    /// <summary>An array field's items; none when the event has no such array.</summary>
    private static JsonElement.ArrayEnumerator Items(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.Array
            ? value.EnumerateArray()
            : NoItems.EnumerateArray();
}
