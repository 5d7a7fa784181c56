using System.Buffers;
using System.Text.Json;

namespace Parley.Chat;

/// <summary>
/// Writes the chat protocol's events (JSON objects tagged <c>"_et"</c>) into a buffer, without
/// the line ending. The server's encoder: every event it sends is written here.
/// </summary>
/// <remarks>
/// Lists built from many users' data are cut to fit: <c>maxBytes</c> bounds the whole event,
/// assuming the worst case (six bytes a character, as JSON escaping can make of one), and the
/// event says whether it was cut (<c>more</c>) and how many there are in all (<c>n</c>).
/// Nothing is allocated per event in steady state (one <see cref="Utf8JsonWriter"/> per
/// thread). Thread-safe: calls on different threads share nothing.
/// </remarks>
public static class ChatEventWriter
{
    // Room for what follows a cut list or page: ],"more":true,"n":<int>} and the line feed.
    private const int TailReserve = 64;

    /// <summary><c>login_successful</c>, with as many of <paramref name="rooms"/> as fit <paramref name="maxBytes"/> (<c>more</c>, <c>n</c>).</summary>
    public static void WriteLoginSuccessful(IBufferWriter<byte> output, string session, string user, IReadOnlyList<ChatRoomInfo> rooms, int maxBytes)
    {
        ArgumentNullException.ThrowIfNull(rooms);
        Utf8JsonWriter w = Begin(output, "login_successful"u8);
        w.WriteString("s"u8, session);
        w.WriteString("u"u8, user);
        WriteRoomList(w, rooms, 0, maxBytes);
        End(w);
    }

    /// <summary><c>user_joined_room</c>: the room's users (sorted) from the first, cut to fit <paramref name="maxBytes"/>.</summary>
    public static void WriteUserJoinedRoom(IBufferWriter<byte> output, string room, IReadOnlyList<string> users, int maxBytes)
    {
        ArgumentNullException.ThrowIfNull(users);
        Utf8JsonWriter w = Begin(output, "user_joined_room"u8);
        w.WriteString("r"u8, room);
        WriteUserList(w, users, 0, maxBytes);
        End(w);
    }

    /// <summary><c>room_participation</c>: <c>"s":"joined"</c> or <c>"left"</c>.</summary>
    public static void WriteRoomParticipation(IBufferWriter<byte> output, string room, string user, bool joined)
    {
        Utf8JsonWriter w = Begin(output, "room_participation"u8);
        w.WriteString("r"u8, room);
        w.WriteString("u"u8, user);
        w.WriteString("s"u8, joined ? "joined"u8 : "left"u8);
        End(w);
    }

    /// <summary><c>user_message</c>: <c>r, u, c, id, t</c>.</summary>
    public static void WriteUserMessage(IBufferWriter<byte> output, ChatMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        WriteUserMessage(output, message.Room, message.User, message.Content, message.Id, message.Timestamp);
    }

    /// <summary><c>user_message</c> from its fields.</summary>
    public static void WriteUserMessage(IBufferWriter<byte> output, string room, string user, string content, long id, DateTimeOffset timestamp)
    {
        Utf8JsonWriter w = Begin(output, "user_message"u8);
        w.WriteString("r"u8, room);
        WriteMessageFields(w, user, content, id, timestamp);
        End(w);
    }

    /// <summary><c>message_ack</c>: <c>r, id</c>, and <c>ref</c> when the <c>send_message</c> had one.</summary>
    public static void WriteMessageAck(IBufferWriter<byte> output, string room, long id, long? reference = null)
    {
        Utf8JsonWriter w = Begin(output, "message_ack"u8);
        w.WriteString("r"u8, room);
        w.WriteNumber("id"u8, id);
        if (reference is { } r)
        {
            w.WriteNumber("ref"u8, r);
        }

        End(w);
    }

    /// <summary><c>rooms</c>: a page of the room list from index <paramref name="start"/>, cut to fit <paramref name="maxBytes"/>.</summary>
    public static void WriteRooms(IBufferWriter<byte> output, IReadOnlyList<ChatRoomInfo> rooms, int start, int maxBytes)
    {
        ArgumentNullException.ThrowIfNull(rooms);
        Utf8JsonWriter w = Begin(output, "rooms"u8);
        WriteRoomList(w, rooms, start, maxBytes);
        End(w);
    }

    /// <summary><c>room_users</c>: a page of a member list (sorted), from index <paramref name="start"/>, cut to fit <paramref name="maxBytes"/>.</summary>
    public static void WriteRoomUsers(IBufferWriter<byte> output, string room, IReadOnlyList<string> users, int start, int maxBytes)
    {
        ArgumentNullException.ThrowIfNull(users);
        Utf8JsonWriter w = Begin(output, "room_users"u8);
        w.WriteString("r"u8, room);
        WriteUserList(w, users, start, maxBytes);
        End(w);
    }

    /// <summary>
    /// <c>history</c>: <paramref name="messages"/> (oldest first; their own rooms are not written,
    /// <paramref name="room"/> is) and <c>more</c>. Not cut: the caller chooses a page that fits.
    /// </summary>
    public static void WriteHistory(IBufferWriter<byte> output, string room, IReadOnlyList<ChatMessage> messages, bool more)
    {
        ArgumentNullException.ThrowIfNull(messages);
        Utf8JsonWriter w = BeginHistory(output, room);
        foreach (ChatMessage message in messages)
        {
            WriteHistoryEntry(w, message.User, message.Content, message.Id, message.Timestamp);
        }

        EndHistory(w, more);
    }

    /// <summary><c>pong</c>.</summary>
    public static void WritePong(IBufferWriter<byte> output) => End(Begin(output, "pong"u8));

    /// <summary><c>error</c>: <c>code, message</c>, and <c>ct</c> and <c>ref</c> when known.</summary>
    public static void WriteError(IBufferWriter<byte> output, in ChatError error)
    {
        Utf8JsonWriter w = Begin(output, "error"u8);
        w.WriteString("code"u8, error.Code);
        w.WriteString("message"u8, error.Message);
        if (error.Command is not null)
        {
            w.WriteString("ct"u8, error.Command);
        }

        if (error.Ref is { } reference)
        {
            w.WriteNumber("ref"u8, reference);
        }

        End(w);
    }

    /// <summary>
    /// What every <c>user_message</c> of <paramref name="room"/> starts with:
    /// <c>{"_et":"user_message","r":ROOM</c>. The server writes it once per room and follows it
    /// with a comma and a message's fields (<see cref="WriteHistoryMessage"/> without its brace).
    /// </summary>
    internal static byte[] UserMessagePrefix(string room) => Prefix(room, "user_message"u8, array: default);

    /// <summary>What every <c>history</c> event of <paramref name="room"/> starts with: <c>{"_et":"history","r":ROOM,"ms":[</c>.</summary>
    internal static byte[] HistoryPrefix(string room) => Prefix(room, "history"u8, array: "ms"u8);

    /// <summary>What every <c>message_ack</c> of <paramref name="room"/> starts with: <c>{"_et":"message_ack","r":ROOM</c>.</summary>
    internal static byte[] MessageAckPrefix(string room) => Prefix(room, "message_ack"u8, array: default);

    /// <summary>One message as a <c>history</c> event lists it: <c>{"u":…,"c":…,"id":…,"t":…}</c>, from UTF-8 text.</summary>
    internal static void WriteHistoryMessage(IBufferWriter<byte> output, ReadOnlySpan<byte> user, ReadOnlySpan<byte> content, long id, DateTimeOffset timestamp)
    {
        Utf8JsonWriter w = JsonWriterCache.Rent(output);
        w.WriteStartObject();
        w.WriteString("u"u8, user);
        w.WriteString("c"u8, content);
        w.WriteNumber("id"u8, id);
        w.WriteString("t"u8, timestamp);
        w.WriteEndObject();
        JsonWriterCache.Release(w);
    }

    private static byte[] Prefix(string room, ReadOnlySpan<byte> type, ReadOnlySpan<byte> array)
    {
        var buffer = new ArrayBufferWriter<byte>(64);
        Utf8JsonWriter w = Begin(buffer, type);
        w.WriteString("r"u8, room);
        if (!array.IsEmpty)
        {
            w.WriteStartArray(array);
        }

        JsonWriterCache.Release(w);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The most bytes a <c>history</c> event of <paramref name="room"/> spends around its messages.</summary>
    internal static int HistoryEnvelope(string room) => 64 + (room.Length * 6) + TailReserve;

    private static Utf8JsonWriter BeginHistory(IBufferWriter<byte> output, string room)
    {
        Utf8JsonWriter w = Begin(output, "history"u8);
        w.WriteString("r"u8, room);
        w.WriteStartArray("ms"u8);
        return w;
    }

    private static void WriteHistoryEntry(Utf8JsonWriter w, string user, string content, long id, DateTimeOffset timestamp)
    {
        w.WriteStartObject();
        WriteMessageFields(w, user, content, id, timestamp);
        w.WriteEndObject();
    }

    private static void EndHistory(Utf8JsonWriter w, bool more)
    {
        w.WriteEndArray();
        w.WriteBoolean("more"u8, more);
        End(w);
    }

    private static void WriteMessageFields(Utf8JsonWriter w, string user, string content, long id, DateTimeOffset timestamp)
    {
        w.WriteString("u"u8, user);
        w.WriteString("c"u8, content);
        w.WriteNumber("id"u8, id);
        w.WriteString("t"u8, timestamp); // ISO 8601 (UTC), microseconds
    }

    private static void WriteRoomList(Utf8JsonWriter w, IReadOnlyList<ChatRoomInfo> rooms, int start, int maxBytes)
    {
        w.WriteStartArray("rs"u8);
        int i = Math.Max(start, 0);
        for (; i < rooms.Count; i++)
        {
            // The most this entry can take: every character escaped, the keys, a ten-digit count.
            ChatRoomInfo room = rooms[i];
            if (w.BytesCommitted + w.BytesPending + ((room.Name.Length + room.Description.Length) * 6) + 32 + TailReserve > maxBytes)
            {
                break;
            }

            w.WriteStartObject();
            w.WriteString("n"u8, room.Name);
            w.WriteString("d"u8, room.Description);
            if (room.Users is { } users)
            {
                w.WriteNumber("m"u8, users);
            }

            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteBoolean("more"u8, i < rooms.Count);
        w.WriteNumber("n"u8, rooms.Count);
    }

    private static void WriteUserList(Utf8JsonWriter w, IReadOnlyList<string> users, int start, int maxBytes)
    {
        w.WriteStartArray("us"u8);
        int i = Math.Max(start, 0);
        for (; i < users.Count; i++)
        {
            // Six bytes a character is the most JSON escaping can make of one: a cut list always fits.
            string user = users[i];
            if (w.BytesCommitted + w.BytesPending + (user.Length * 6) + 3 + TailReserve > maxBytes)
            {
                break;
            }

            w.WriteStringValue(user);
        }

        w.WriteEndArray();
        w.WriteBoolean("more"u8, i < users.Count);
        w.WriteNumber("n"u8, users.Count);
    }

    private static Utf8JsonWriter Begin(IBufferWriter<byte> output, ReadOnlySpan<byte> type)
    {
        Utf8JsonWriter writer = JsonWriterCache.Rent(output);
        writer.WriteStartObject();
        writer.WriteString("_et"u8, type);
        return writer;
    }

    private static void End(Utf8JsonWriter writer)
    {
        writer.WriteEndObject();
        JsonWriterCache.Release(writer);
    }
}
