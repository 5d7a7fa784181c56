namespace Parley.Chat;

/// <summary>
/// The server's events, encoded by <see cref="ChatEventWriter"/> into a per-thread buffer that
/// is reused: an event is encoded once and the returned span is sent or broadcast at once,
/// before the same thread encodes the next one.
/// </summary>
internal static class Events
{
    [ThreadStatic]
    private static PooledBufferWriter? t_buffer;

    /// <summary>The greeting, with as much of the room list as fits <paramref name="maxBytes"/> (<c>more</c>, <c>n</c>).</summary>
    public static ReadOnlySpan<byte> LoginSuccessful(string session, string user, IReadOnlyList<ChatRoomInfo> rooms, int maxBytes)
    {
        PooledBufferWriter buffer = Begin();
        ChatEventWriter.WriteLoginSuccessful(buffer, session, user, rooms, maxBytes);
        return buffer.WrittenSpan;
    }

    /// <summary>A member list, cut to fit <paramref name="maxBytes"/>: <c>more</c> says whether it was cut, <c>n</c> is the room's member count.</summary>
    public static ReadOnlySpan<byte> UserJoinedRoom(string room, IReadOnlyList<string> users, int maxBytes)
    {
        PooledBufferWriter buffer = Begin();
        ChatEventWriter.WriteUserJoinedRoom(buffer, room, users, maxBytes);
        return buffer.WrittenSpan;
    }

    public static ReadOnlySpan<byte> RoomParticipation(string room, string user, bool joined)
    {
        PooledBufferWriter buffer = Begin();
        ChatEventWriter.WriteRoomParticipation(buffer, room, user, joined);
        return buffer.WrittenSpan;
    }

    public static ReadOnlySpan<byte> UserMessage(string room, HistoryEntry message)
    {
        PooledBufferWriter buffer = Begin();
        ChatEventWriter.WriteUserMessage(buffer, room, message.User, message.Content, message.Id, message.Timestamp);
        return buffer.WrittenSpan;
    }

    /// <summary>See <see cref="ChatEventWriter.MeasureUserMessageEnvelope"/>.</summary>
    public static int UserMessageEnvelope(string room) => ChatEventWriter.MeasureUserMessageEnvelope(room);

    /// <summary>A message's size in a <c>history</c> event, from its <c>user_message</c> event's length.</summary>
    public static int HistorySize(int userMessageLength, int envelope) => ChatEventWriter.HistorySize(userMessageLength, envelope);

    public static ReadOnlySpan<byte> MessageAck(string room, long id, long? reference = null)
    {
        PooledBufferWriter buffer = Begin();
        ChatEventWriter.WriteMessageAck(buffer, room, id, reference);
        return buffer.WrittenSpan;
    }

    /// <summary>A page of the room list from index <paramref name="start"/>, cut to fit <paramref name="maxBytes"/>.</summary>
    public static ReadOnlySpan<byte> Rooms(IReadOnlyList<ChatRoomInfo> rooms, int start, int maxBytes)
    {
        PooledBufferWriter buffer = Begin();
        ChatEventWriter.WriteRooms(buffer, rooms, start, maxBytes);
        return buffer.WrittenSpan;
    }

    /// <summary>A page of a member list (sorted), from index <paramref name="start"/>, cut to fit <paramref name="maxBytes"/>.</summary>
    public static ReadOnlySpan<byte> RoomUsers(string room, IReadOnlyList<string> users, int start, int maxBytes)
    {
        PooledBufferWriter buffer = Begin();
        ChatEventWriter.WriteRoomUsers(buffer, room, users, start, maxBytes);
        return buffer.WrittenSpan;
    }

    /// <summary>The bytes a <c>history</c> event spends on <paramref name="message"/> (its object and a comma).</summary>
    public static int MeasureMessage(HistoryEntry message) =>
        ChatEventWriter.MeasureHistoryEntry(message.User, message.Content, message.Id, message.Timestamp);

    /// <summary>The bytes a <c>history</c> event of <paramref name="room"/> spends around its messages.</summary>
    public static int HistoryEnvelope(string room) => ChatEventWriter.HistoryEnvelope(room);

    public static ReadOnlySpan<byte> History(string room, IReadOnlyList<HistoryEntry> messages, bool more)
    {
        PooledBufferWriter buffer = Begin();
        ChatEventWriter.WriteHistoryEntries(buffer, room, messages, more);
        return buffer.WrittenSpan;
    }

    public static ReadOnlySpan<byte> Pong()
    {
        PooledBufferWriter buffer = Begin();
        ChatEventWriter.WritePong(buffer);
        return buffer.WrittenSpan;
    }

    public static ReadOnlySpan<byte> Error(ChatError error)
    {
        PooledBufferWriter buffer = Begin();
        ChatEventWriter.WriteError(buffer, error);
        return buffer.WrittenSpan;
    }

    private static PooledBufferWriter Begin()
    {
        PooledBufferWriter buffer = t_buffer ??= new PooledBufferWriter();
        buffer.Reset(); // a large array a reply borrowed goes back to the pool
        return buffer;
    }
}
