using System.Buffers;

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

    /// <summary>
    /// A <c>user_message</c> of <paramref name="room"/>, written once: the room's prefix, then the
    /// message as a <c>history</c> event lists it (<c>{"u":…}</c>, from <paramref name="historyStart"/>),
    /// whose opening brace the caller turns into the comma that joins it to the prefix once it has
    /// kept those bytes for history. The span is the thread's buffer: use it before the next event.
    /// </summary>
    public static Span<byte> UserMessage(Room room, ReadOnlySpan<byte> user, ReadOnlySpan<byte> content, long id, DateTimeOffset timestamp, out int historyStart)
    {
        PooledBufferWriter buffer = Begin();
        buffer.Write(room.UserMessagePrefix);
        historyStart = buffer.WrittenCount;
        ChatEventWriter.WriteHistoryMessage(buffer, user, content, id, timestamp);
        return buffer.WrittenSpan;
    }

    /// <summary>A message as a <c>history</c> event lists it (to rebuild history from the journal).</summary>
    public static ReadOnlySpan<byte> HistoryMessage(ReadOnlySpan<byte> user, ReadOnlySpan<byte> content, long id, DateTimeOffset timestamp)
    {
        PooledBufferWriter buffer = Begin();
        ChatEventWriter.WriteHistoryMessage(buffer, user, content, id, timestamp);
        return buffer.WrittenSpan;
    }

    /// <summary><c>message_ack</c>: the room's pre-encoded prefix, the id and the client's <c>ref</c> when it gave one.</summary>
    public static ReadOnlySpan<byte> MessageAck(Room room, long id, long? reference)
    {
        PooledBufferWriter buffer = Begin();
        buffer.Write(room.MessageAckPrefix);
        buffer.Write(",\"id\":"u8);
        WriteNumber(buffer, id);
        if (reference is { } r)
        {
            buffer.Write(",\"ref\":"u8);
            WriteNumber(buffer, r);
        }

        buffer.Write("}"u8);
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

    /// <summary>The bytes a <c>history</c> event of <paramref name="room"/> spends around its messages.</summary>
    public static int HistoryEnvelope(string room) => ChatEventWriter.HistoryEnvelope(room);

    /// <summary>A <c>history</c> page of <paramref name="room"/> from memory, or false and the ids to read from the journal: see <see cref="Room.TryWriteHistory"/>.</summary>
    public static bool TryHistory(Room room, long before, int limit, long maxBytes, long firstRetained, List<long> journalIds, out bool more, out ReadOnlySpan<byte> page)
    {
        PooledBufferWriter buffer = Begin();
        bool written = room.TryWriteHistory(buffer, before, limit, maxBytes, firstRetained, journalIds, out more);
        page = written ? buffer.WrittenSpan : default;
        return written;
    }

    /// <summary>
    /// A <c>history</c> page of entries read from the journal: <paramref name="entries"/> holds
    /// them back to back (entry i ends at <paramref name="ends"/>[i] − <paramref name="offset"/>,
    /// from entry <paramref name="first"/> on); joined with commas.
    /// </summary>
    public static ReadOnlySpan<byte> JournalHistory(Room room, ReadOnlySpan<byte> entries, List<int> ends, int first, int offset, bool more)
    {
        PooledBufferWriter buffer = Begin();
        buffer.Write(room.HistoryPrefix);
        int start = 0;
        for (int i = first; i < ends.Count; i++)
        {
            if (i > first)
            {
                buffer.Write(","u8);
            }

            int end = ends[i] - offset;
            buffer.Write(entries[start..end]);
            start = end;
        }

        buffer.Write(more ? "],\"more\":true}"u8 : "],\"more\":false}"u8);
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

    private static void WriteNumber(PooledBufferWriter buffer, long value)
    {
        Span<byte> digits = buffer.GetSpan(20);
        System.Buffers.Text.Utf8Formatter.TryFormat(value, digits, out int written);
        buffer.Advance(written);
    }

    private static PooledBufferWriter Begin()
    {
        PooledBufferWriter buffer = t_buffer ??= new PooledBufferWriter();
        buffer.Reset(); // a large array a reply borrowed goes back to the pool
        return buffer;
    }
}
