using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Parley.Chat;

/// <summary>
/// Encodes the protocol's events (JSON objects tagged <c>"_et"</c>) into a per-thread buffer
/// that is reused: an event is encoded once and the returned span is sent or broadcast at once,
/// before the same thread encodes the next one.
/// </summary>
internal static class Events
{
    // Non-ASCII text stays readable (UTF-8) for people on nc; quotes and control characters are still escaped.
    private static readonly JsonWriterOptions s_options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true };

    [ThreadStatic]
    private static PooledBufferWriter? t_buffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_measureBuffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_measureWriter;

    /// <summary>The greeting, with as much of the room list as fits <paramref name="maxBytes"/> (<c>more</c>, <c>n</c>).</summary>
    public static ReadOnlySpan<byte> LoginSuccessful(string session, string user, IReadOnlyList<Room> rooms, int maxBytes)
    {
        Utf8JsonWriter w = Begin("login_successful");
        w.WriteString("s"u8, session);
        w.WriteString("u"u8, user);
        WriteRooms(w, rooms, 0, withUserCounts: false, maxBytes);
        return End(w);
    }

    // Room for what follows a cut list or page: ],"more":true,"n":<int>} and the line feed.
    private const int TailReserve = 64;

    /// <summary>A member list, cut to fit <paramref name="maxBytes"/>: <c>more</c> says whether it was cut, <c>n</c> is the room's member count.</summary>
    public static ReadOnlySpan<byte> UserJoinedRoom(string room, IReadOnlyList<string> users, int maxBytes)
    {
        Utf8JsonWriter w = Begin("user_joined_room");
        w.WriteString("r"u8, room);
        WriteUsers(w, users, 0, maxBytes);
        return End(w);
    }

    public static ReadOnlySpan<byte> RoomParticipation(string room, string user, bool joined)
    {
        Utf8JsonWriter w = Begin("room_participation");
        w.WriteString("r"u8, room);
        w.WriteString("u"u8, user);
        w.WriteString("s"u8, joined ? "joined"u8 : "left"u8);
        return End(w);
    }

    public static ReadOnlySpan<byte> UserMessage(string room, HistoryEntry message)
    {
        Utf8JsonWriter w = Begin("user_message");
        w.WriteString("r"u8, room);
        WriteMessageFields(w, message);
        return End(w);
    }

    /// <summary>
    /// The bytes of a <c>user_message</c> event of <paramref name="room"/> without the message's
    /// fields: <c>{"_et":"user_message","r":ROOM}</c>. A message's event length minus this, plus 2,
    /// is what it takes in a <c>history</c> event (<see cref="MeasureMessage"/>): the same fields in
    /// <c>{…}</c> and a comma, instead of the envelope, a comma before the fields and the end.
    /// </summary>
    public static int UserMessageEnvelope(string room)
    {
        Utf8JsonWriter w = Begin("user_message");
        w.WriteString("r"u8, room);
        return End(w).Length;
    }

    /// <summary>A message's size in a <c>history</c> event, from its <c>user_message</c> event's length.</summary>
    public static int HistorySize(int userMessageLength, int envelope) => userMessageLength - envelope + 2;

    public static ReadOnlySpan<byte> MessageAck(string room, long id)
    {
        Utf8JsonWriter w = Begin("message_ack");
        w.WriteString("r"u8, room);
        w.WriteNumber("id"u8, id);
        return End(w);
    }

    /// <summary>A page of the room list from index <paramref name="start"/>, cut to fit <paramref name="maxBytes"/>.</summary>
    public static ReadOnlySpan<byte> Rooms(IReadOnlyList<Room> rooms, int start, int maxBytes)
    {
        Utf8JsonWriter w = Begin("rooms");
        WriteRooms(w, rooms, start, withUserCounts: true, maxBytes);
        return End(w);
    }

    private static void WriteRooms(Utf8JsonWriter w, IReadOnlyList<Room> rooms, int start, bool withUserCounts, int maxBytes)
    {
        w.WriteStartArray("rs"u8);
        int i = start;
        for (; i < rooms.Count; i++)
        {
            // The most this entry can take: every character escaped, the keys, a ten-digit count.
            Room room = rooms[i];
            if (w.BytesCommitted + w.BytesPending + ((room.Name.Length + room.Description.Length) * 6) + 32 + TailReserve > maxBytes)
            {
                break;
            }

            w.WriteStartObject();
            w.WriteString("n"u8, room.Name);
            w.WriteString("d"u8, room.Description);
            if (withUserCounts)
            {
                w.WriteNumber("m"u8, room.UserCount);
            }

            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteBoolean("more"u8, i < rooms.Count);
        w.WriteNumber("n"u8, rooms.Count);
    }

    /// <summary>A page of a member list (sorted), from index <paramref name="start"/>, cut to fit <paramref name="maxBytes"/>.</summary>
    public static ReadOnlySpan<byte> RoomUsers(string room, IReadOnlyList<string> users, int start, int maxBytes)
    {
        Utf8JsonWriter w = Begin("room_users");
        w.WriteString("r"u8, room);
        WriteUsers(w, users, start, maxBytes);
        return End(w);
    }

    /// <summary>The bytes a <c>history</c> event spends on <paramref name="message"/> (its object and a comma).</summary>
    public static int MeasureMessage(HistoryEntry message)
    {
        ArrayBufferWriter<byte> buffer = t_measureBuffer ??= new ArrayBufferWriter<byte>(256);
        buffer.ResetWrittenCount();
        Utf8JsonWriter w = t_measureWriter ??= new Utf8JsonWriter(buffer, s_options);
        w.Reset(buffer);
        w.WriteStartObject();
        WriteMessageFields(w, message);
        w.WriteEndObject();
        w.Flush();
        return buffer.WrittenCount + 1;
    }

    /// <summary>The bytes a <c>history</c> event of <paramref name="room"/> spends around its messages.</summary>
    public static int HistoryEnvelope(string room) => 64 + (room.Length * 6) + TailReserve;

    public static ReadOnlySpan<byte> History(string room, IReadOnlyList<HistoryEntry> messages, bool more)
    {
        Utf8JsonWriter w = Begin("history");
        w.WriteString("r"u8, room);
        w.WriteStartArray("ms"u8);
        foreach (HistoryEntry message in messages)
        {
            w.WriteStartObject();
            WriteMessageFields(w, message);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteBoolean("more"u8, more);
        return End(w);
    }

    public static ReadOnlySpan<byte> Pong() => End(Begin("pong"));

    public static ReadOnlySpan<byte> Error(CommandError error)
    {
        Utf8JsonWriter w = Begin("error");
        w.WriteString("code"u8, error.Code);
        w.WriteString("message"u8, error.Message);
        if (error.Tag is not null)
        {
            w.WriteString("ct"u8, error.Tag);
        }

        return End(w);
    }

    private static void WriteMessageFields(Utf8JsonWriter w, HistoryEntry message)
    {
        w.WriteString("u"u8, message.User);
        w.WriteString("c"u8, message.Content);
        w.WriteNumber("id"u8, message.Id);
        w.WriteString("t"u8, message.Timestamp); // ISO 8601 (UTC), microseconds
    }

    private static void WriteUsers(Utf8JsonWriter w, IReadOnlyList<string> users, int start, int maxBytes)
    {
        w.WriteStartArray("us"u8);
        int i = start;
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

    private static Utf8JsonWriter Begin(string type)
    {
        PooledBufferWriter buffer = t_buffer ??= new PooledBufferWriter();
        buffer.Reset(); // a large array a reply borrowed goes back to the pool
        Utf8JsonWriter writer = t_writer ??= new Utf8JsonWriter(buffer, s_options);
        writer.Reset(buffer);
        writer.WriteStartObject();
        writer.WriteString("_et"u8, type);
        return writer;
    }

    private static ReadOnlySpan<byte> End(Utf8JsonWriter writer)
    {
        writer.WriteEndObject();
        writer.Flush();
        return t_buffer!.WrittenSpan;
    }
}
