using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;

namespace Parley.Chat;

/// <summary>
/// Reads one event line of the chat protocol (a JSON object tagged <c>"_et"</c>) into a
/// <see cref="ChatEvent"/>: the client's parser. Unknown fields are ignored and the tag may
/// come anywhere in the object (forward compatibility); an unknown tag reads as
/// <see cref="UnknownEvent"/>.
/// </summary>
/// <remarks>
/// Everything it keeps is bounded by the line, which the connection's framer bounds. A line
/// that is not an event — not one JSON object, nested deeper than the protocol nests, not
/// UTF-8, a field of the wrong type, a field an event needs missing — is refused with a reason,
/// never half-read. Thread-safe (stateless).
/// </remarks>
public static class ChatEventReader
{
    /// <summary>
    /// Reads <paramref name="line"/> (one line without its line ending); false, with a reason for
    /// people in <paramref name="error"/>, when it is not an event.
    /// </summary>
    public static bool TryRead(in ReadOnlySequence<byte> line, [NotNullWhen(true)] out ChatEvent? chatEvent, [NotNullWhen(false)] out string? error)
    {
        chatEvent = null;
        var f = new Fields();
        try
        {
            var reader = new Utf8JsonReader(line, ChatProtocol.ReaderOptions);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                error = "an event is one JSON object";
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                string? name = PropertyName(ref reader);
                reader.Read();
                switch (name)
                {
                    case "_et": f.Tag = String(ref reader, name); break;
                    case "r": f.Room = String(ref reader, name); break;
                    case "u": f.User = String(ref reader, name); break;
                    case "s": f.S = String(ref reader, name); break;
                    case "c": f.Content = String(ref reader, name); break;
                    case "id": f.Id = Number(ref reader, name); break;
                    case "t": f.Timestamp = Timestamp(ref reader, name); break;
                    case "more": f.More = Boolean(ref reader, name); break;
                    case "n": f.Total = (int)Math.Clamp(Number(ref reader, name), 0, int.MaxValue); break;
                    case "code": f.Code = String(ref reader, name); break;
                    case "message": f.Message = String(ref reader, name); break;
                    case "ct": f.Command = String(ref reader, name); break;
                    case "ref": f.Ref = Number(ref reader, name); break;
                    case "rs": f.Rooms = RoomList(ref reader); break;
                    case "us": f.Users = StringList(ref reader, name); break;
                    case "ms": f.Messages = MessageList(ref reader); break;
                    default: reader.Skip(); break;
                }
            }

            if (reader.Read())
            {
                throw new JsonException("content after the object");
            }
        }
        catch (JsonException ex)
        {
            error = $"not valid JSON: {ex.Message}";
            return false;
        }
        catch (InvalidOperationException)
        {
            // As in ChatCommandReader: a string's text is checked only when it is read.
            error = "a string is not valid UTF-8 text";
            return false;
        }
        catch (BadField ex)
        {
            error = ex.Message;
            return false;
        }

        return TryBuild(f, out chatEvent, out error);
    }

    /// <summary>
    /// Reads only what a hot loop needs from an event, allocating nothing: its type, and its
    /// top-level <c>r</c>, <c>c</c> and <c>id</c>. False when the line is not a JSON object with a
    /// string <c>"_et"</c>. See <see cref="ChatEventHeader"/> for what the spans hold.
    /// </summary>
    public static bool TryReadHeader(ReadOnlySpan<byte> line, out ChatEventHeader header)
    {
        header = default;
        ChatEventType type = ChatEventType.Unknown;
        bool tagged = false;
        ReadOnlySpan<byte> room = default, content = default;
        long id = 0;
        try
        {
            var reader = new Utf8JsonReader(line, ChatProtocol.ReaderOptions);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("_et"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        return false;
                    }

                    tagged = true;
                    type = reader.ValueIsEscaped ? ChatEventType.Unknown : ChatProtocol.ParseEventName(reader.ValueSpan);
                }
                else if (reader.ValueTextEquals("r"u8))
                {
                    reader.Read();
                    room = reader.TokenType == JsonTokenType.String ? reader.ValueSpan : default;
                }
                else if (reader.ValueTextEquals("c"u8))
                {
                    reader.Read();
                    content = reader.TokenType == JsonTokenType.String ? reader.ValueSpan : default;
                }
                else if (reader.ValueTextEquals("id"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out id))
                    {
                        id = 0;
                    }
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return false; // not JSON (or not UTF-8): the caller counts it as it sees fit
        }

        if (!tagged)
        {
            return false;
        }

        header = new ChatEventHeader(type, room, content, id);
        return true;
    }

    // The field names this reader knows, as the strings its switch matches.
    private static readonly string[] KnownNames = ["_et", "r", "u", "s", "c", "id", "t", "more", "n", "code", "message", "ct", "ref", "rs", "us", "ms"];
    private static readonly byte[][] KnownNamesUtf8 = [.. KnownNames.Select(System.Text.Encoding.UTF8.GetBytes)];

    /// <summary>
    /// The current property's name: one of <see cref="KnownNames"/> (the same string, nothing
    /// allocated), or null for a name this reader does not know. Only an escaped name is decoded.
    /// </summary>
    private static string? PropertyName(ref Utf8JsonReader reader)
    {
        if (reader.ValueIsEscaped || reader.HasValueSequence)
        {
            return reader.GetString();
        }

        ReadOnlySpan<byte> utf8 = reader.ValueSpan;
        for (int i = 0; i < KnownNamesUtf8.Length; i++)
        {
            if (utf8.SequenceEqual(KnownNamesUtf8[i]))
            {
                return KnownNames[i];
            }
        }

        return null;
    }

    private static bool TryBuild(in Fields f, [NotNullWhen(true)] out ChatEvent? chatEvent, [NotNullWhen(false)] out string? error)
    {
        chatEvent = null;
        error = null;
        if (f.Tag is null)
        {
            error = "the event has no \"_et\" field";
            return false;
        }

        ChatEventType type = ChatProtocol.ParseEventName(f.Tag);
        string? missing = type switch
        {
            ChatEventType.LoginSuccessful when f.S is null => "s",
            ChatEventType.LoginSuccessful when f.User is null => "u",
            ChatEventType.UserJoinedRoom or ChatEventType.RoomParticipation or ChatEventType.UserMessage
                or ChatEventType.MessageAck or ChatEventType.RoomUsers or ChatEventType.History when f.Room is null => "r",
            ChatEventType.RoomParticipation when f.User is null => "u",
            ChatEventType.RoomParticipation when f.S is not ("joined" or "left") => "s (\"joined\" or \"left\")",
            ChatEventType.UserMessage when f.User is null => "u",
            ChatEventType.UserMessage when f.Content is null => "c",
            ChatEventType.UserMessage or ChatEventType.MessageAck when f.Id is null => "id",
            ChatEventType.UserMessage when f.Timestamp is null => "t",
            ChatEventType.Error when f.Code is null => "code",
            _ => null,
        };
        if (missing is not null)
        {
            error = $"a {f.Tag} event needs \"{missing}\"";
            return false;
        }

        string room = f.Room ?? "";
        chatEvent = type switch
        {
            ChatEventType.LoginSuccessful => new LoginSuccessfulEvent(f.S!, f.User!, f.Rooms ?? [], f.More, f.Total ?? f.Rooms?.Count ?? 0),
            ChatEventType.UserJoinedRoom => new UserJoinedRoomEvent(room, f.Users ?? [], f.More, f.Total ?? f.Users?.Count ?? 0),
            ChatEventType.RoomParticipation => new RoomParticipationEvent(room, f.User!, f.S == "joined"),
            ChatEventType.UserMessage => new UserMessageEvent(new ChatMessage(room, f.Id!.Value, f.Timestamp!.Value, f.User!, f.Content!)),
            ChatEventType.MessageAck => new MessageAckEvent(room, f.Id!.Value, f.Ref),
            ChatEventType.Rooms => new RoomsEvent(f.Rooms ?? [], f.More, f.Total ?? f.Rooms?.Count ?? 0),
            ChatEventType.RoomUsers => new RoomUsersEvent(room, f.Users ?? [], f.More, f.Total ?? f.Users?.Count ?? 0),
            ChatEventType.History => new HistoryEvent(room, f.Messages is null ? [] : [.. f.Messages.Select(m => new ChatMessage(room, m.Id, m.Timestamp, m.User, m.Content))], f.More),
            ChatEventType.Pong => PongEvent.Instance,
            ChatEventType.Error => new ErrorEvent(new ChatError(f.Code!, f.Message ?? "", f.Command, f.Ref)),
            _ => new UnknownEvent(f.Tag),
        };
        return true;
    }

    private static List<ChatRoomInfo> RoomList(ref Utf8JsonReader reader)
    {
        var rooms = new List<ChatRoomInfo>();
        ExpectArray(ref reader, "rs");
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                throw new BadField("\"rs\" must hold objects");
            }

            string? name = null, description = null;
            int? users = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                string field = reader.GetString()!;
                reader.Read();
                switch (field)
                {
                    case "n": name = String(ref reader, "rs.n"); break;
                    case "d": description = String(ref reader, "rs.d"); break;
                    case "m": users = (int)Math.Clamp(Number(ref reader, "rs.m"), 0, int.MaxValue); break;
                    default: reader.Skip(); break;
                }
            }

            rooms.Add(new ChatRoomInfo(name ?? throw new BadField("a room in \"rs\" has no \"n\""), description ?? "", users));
        }

        return rooms;
    }

    private static List<string> StringList(ref Utf8JsonReader reader, string name)
    {
        var items = new List<string>();
        ExpectArray(ref reader, name);
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            items.Add(String(ref reader, name));
        }

        return items;
    }

    private static List<(string User, string Content, long Id, DateTimeOffset Timestamp)> MessageList(ref Utf8JsonReader reader)
    {
        var messages = new List<(string, string, long, DateTimeOffset)>();
        ExpectArray(ref reader, "ms");
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                throw new BadField("\"ms\" must hold objects");
            }

            string? user = null, content = null;
            long? id = null;
            DateTimeOffset? timestamp = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                string field = reader.GetString()!;
                reader.Read();
                switch (field)
                {
                    case "u": user = String(ref reader, "ms.u"); break;
                    case "c": content = String(ref reader, "ms.c"); break;
                    case "id": id = Number(ref reader, "ms.id"); break;
                    case "t": timestamp = Timestamp(ref reader, "ms.t"); break;
                    default: reader.Skip(); break;
                }
            }

            if (user is null || content is null || id is null || timestamp is null)
            {
                throw new BadField("a message in \"ms\" needs \"u\", \"c\", \"id\" and \"t\"");
            }

            messages.Add((user, content, id.Value, timestamp.Value));
        }

        return messages;
    }

    private static void ExpectArray(ref Utf8JsonReader reader, string name)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw new BadField($"\"{name}\" must be an array");
        }
    }

    private static string String(ref Utf8JsonReader reader, string name) =>
        reader.TokenType == JsonTokenType.String ? reader.GetString()! : throw new BadField($"\"{name}\" must be a string");

    private static long Number(ref Utf8JsonReader reader, string name) =>
        reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out long value) ? value : throw new BadField($"\"{name}\" must be an integer");

    private static bool Boolean(ref Utf8JsonReader reader, string name) => reader.TokenType switch
    {
        JsonTokenType.True => true,
        JsonTokenType.False => false,
        _ => throw new BadField($"\"{name}\" must be true or false"),
    };

    private static DateTimeOffset Timestamp(ref Utf8JsonReader reader, string name) =>
        reader.TokenType == JsonTokenType.String && reader.TryGetDateTimeOffset(out DateTimeOffset value) ? value : throw new BadField($"\"{name}\" must be an ISO 8601 time");

    /// <summary>Every field an event may carry, as read; which ones it needs depends on its tag, which may come last.</summary>
    private struct Fields
    {
        public string? Tag, Room, User, S, Content, Code, Message, Command;
        public long? Id, Ref;
        public DateTimeOffset? Timestamp;
        public bool More;
        public int? Total;
        public List<ChatRoomInfo>? Rooms;
        public List<string>? Users;
        public List<(string User, string Content, long Id, DateTimeOffset Timestamp)>? Messages;
    }

    private sealed class BadField(string message) : Exception(message);
}
