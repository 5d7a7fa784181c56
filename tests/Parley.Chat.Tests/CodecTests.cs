using System.Buffers;
using System.Text;

namespace Parley.Chat.Tests;

/// <summary>The protocol codec on its own: what it writes, what it reads, and what it refuses.</summary>
public class CodecTests
{
    private static byte[] Written(Action<ArrayBufferWriter<byte>> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        write(buffer);
        return buffer.WrittenSpan.ToArray();
    }

    private static string Text(Action<ArrayBufferWriter<byte>> write) => Encoding.UTF8.GetString(Written(write));

    public static TheoryData<ChatCommand> Commands() =>
    [
        new ChatCommand(ChatCommandType.Login, User: "ålice", Password: "p\"w\\ \n\u0001"),
        new ChatCommand(ChatCommandType.JoinRoom, Room: "general"),
        new ChatCommand(ChatCommandType.LeaveRoom, Room: "random"),
        new ChatCommand(ChatCommandType.SendMessage, Room: "general", Content: "héllo \"quoted\" 😀 </script>", Ref: 42),
        new ChatCommand(ChatCommandType.SendMessage, Room: "general", Content: "no ref"),
        new ChatCommand(ChatCommandType.ListRooms),
        new ChatCommand(ChatCommandType.ListRooms, After: "random"),
        new ChatCommand(ChatCommandType.ListUsers, Room: "general", After: "bob"),
        new ChatCommand(ChatCommandType.History, Room: "general", Before: 1234567890123, Limit: 20),
        new ChatCommand(ChatCommandType.Ping),
        new ChatCommand(ChatCommandType.Quit),
    ];

    [Theory]
    [MemberData(nameof(Commands))]
    public void Every_command_the_writer_writes_reads_back_the_same(ChatCommand command)
    {
        byte[] line = Written(b => ChatCommandWriter.Write(b, command));
        Assert.True(ChatCommandReader.TryRead(new ReadOnlySequence<byte>(line), out ChatCommand read, out ChatError error), error.Message);
        Assert.Equal(command, read);
        Assert.DoesNotContain((byte)'\n', line); // one line, whatever the text holds
    }

    [Fact]
    public void Commands_are_written_as_the_protocol_has_always_spelled_them()
    {
        Assert.Equal("""{"_ct":"join_room","r":"general"}""", Text(b => ChatCommandWriter.WriteJoinRoom(b, "general")));
        Assert.Equal("""{"_ct":"send_message","r":"general","c":"hi"}""", Text(b => ChatCommandWriter.WriteSendMessage(b, "general", "hi")));
        Assert.Equal("""{"_ct":"send_message","r":"general","c":"hi","ref":7}""", Text(b => ChatCommandWriter.WriteSendMessage(b, "general", "hi", 7)));
        Assert.Equal("""{"_ct":"send_message","r":"general","c":"hi"}""", Text(b => ChatCommandWriter.WriteSendMessage(b, "general"u8, "hi"u8)));
        Assert.Equal("""{"_ct":"login","u":"alice","p":"pw"}""", Text(b => ChatCommandWriter.WriteLogin(b, "alice", "pw")));
        Assert.Equal("""{"_ct":"history","r":"general","before":10,"limit":5}""", Text(b => ChatCommandWriter.WriteHistory(b, "general", 10, 5)));
        Assert.Equal("""{"_ct":"list_users","r":"general"}""", Text(b => ChatCommandWriter.WriteListUsers(b, "general")));
        Assert.Equal("""{"_ct":"ping"}""", Text(ChatCommandWriter.WritePing));
        Assert.Equal("""{"_ct":"quit"}""", Text(ChatCommandWriter.WriteQuit));
        // Non-ASCII stays UTF-8 (readable on nc); what JSON must escape is escaped.
        Assert.Equal("{\"_ct\":\"send_message\",\"r\":\"général\",\"c\":\"a\\\"b\\\\c\\nd\"}", Text(b => ChatCommandWriter.WriteSendMessage(b, "général", "a\"b\\c\nd")));
    }

    [Fact]
    public void Text_that_is_not_valid_unicode_is_refused_before_anything_is_written()
    {
        var buffer = new ArrayBufferWriter<byte>();
        Assert.Throws<ArgumentException>(() => ChatCommandWriter.WriteSendMessage(buffer, "general", "half a pair \ud800"));
        Assert.Throws<ArgumentException>(() => ChatCommandWriter.WriteSendMessage(buffer, "general"u8, [0x61, 0xFF]));
        Assert.Equal(0, buffer.WrittenCount);
    }

    [Fact]
    public void The_reader_takes_a_ref_and_refuses_one_that_is_not_an_integer_echoing_it_when_it_can()
    {
        Assert.True(ChatCommandReader.TryRead(Sequence("""{"ref":9,"_ct":"ping"}"""), out ChatCommand ping, out _));
        Assert.Equal(9, ping.Ref);
        Assert.False(ChatCommandReader.TryRead(Sequence("""{"_ct":"send_message","r":"general","c":"x","ref":"nine"}"""), out _, out ChatError error));
        Assert.Equal(ErrorCodes.InvalidArgument, error.Code);
        Assert.False(ChatCommandReader.TryRead(Sequence("""{"_ct":"send_message","ref":3,"r":"general"}"""), out _, out error));
        Assert.Equal((ErrorCodes.InvalidArgument, "send_message", 3L), (error.Code, error.Command, error.Ref));
    }

    private static readonly DateTimeOffset When = new DateTimeOffset(2026, 11, 22, 1, 2, 3, TimeSpan.Zero).AddTicks(1234560);

    public static TheoryData<string> EventNames() => ["login", "joined", "participation", "message", "ack", "rooms", "users", "history", "pong", "error"];

    /// <summary>Each event written by the server's encoder, and what the reader must make of it.</summary>
    private static (byte[] Line, Action<ChatEvent> Check) Event(string name) => name switch
    {
        "login" => (Written(b => ChatEventWriter.WriteLoginSuccessful(b, "s-1", "ålice", [new("general", "talk \"here\""), new("random", "")], 64 * 1024)), e =>
        {
            var login = Assert.IsType<LoginSuccessfulEvent>(e);
            Assert.Equal(("s-1", "ålice", false, 2), (login.Session, login.User, login.More, login.Total));
            Assert.Equal([new ChatRoomInfo("general", "talk \"here\""), new ChatRoomInfo("random", "")], login.Rooms);
        }),
        "joined" => (Written(b => ChatEventWriter.WriteUserJoinedRoom(b, "general", ["alice", "bob"], 64 * 1024)), e =>
        {
            var joined = Assert.IsType<UserJoinedRoomEvent>(e);
            Assert.Equal(("general", false, 2), (joined.Room, joined.More, joined.Total));
            Assert.Equal(["alice", "bob"], joined.Users);
        }),
        "participation" => (Written(b => ChatEventWriter.WriteRoomParticipation(b, "general", "bob", joined: false)), e =>
            Assert.Equal(new RoomParticipationEvent("general", "bob", false), e)),
        "message" => (Written(b => ChatEventWriter.WriteUserMessage(b, new ChatMessage("général", 17, When, "bob", "hi\n\"there\" 😀"))), e =>
            Assert.Equal(new ChatMessage("général", 17, When, "bob", "hi\n\"there\" 😀"), Assert.IsType<UserMessageEvent>(e).Message)),
        "ack" => (Written(b => ChatEventWriter.WriteMessageAck(b, "general", 17, 5)), e =>
            Assert.Equal(new MessageAckEvent("general", 17, 5), e)),
        "rooms" => (Written(b => ChatEventWriter.WriteRooms(b, [new("general", "g", 3), new("random", "r", 0)], 1, 64 * 1024)), e =>
        {
            var rooms = Assert.IsType<RoomsEvent>(e);
            Assert.Equal((false, 2), (rooms.More, rooms.Total));
            Assert.Equal([new ChatRoomInfo("random", "r", 0)], rooms.Rooms);
        }),
        "users" => (Written(b => ChatEventWriter.WriteRoomUsers(b, "general", ["a", "b", "c"], 1, 64 * 1024)), e =>
        {
            var users = Assert.IsType<RoomUsersEvent>(e);
            Assert.Equal(("general", false, 3), (users.Room, users.More, users.Total));
            Assert.Equal(["b", "c"], users.Users);
        }),
        "history" => (Written(b => ChatEventWriter.WriteHistory(b, "general", [new ChatMessage("general", 1, When, "a", "one"), new ChatMessage("general", 2, When, "b", "two")], more: true)), e =>
        {
            var history = Assert.IsType<HistoryEvent>(e);
            Assert.Equal(("general", true), (history.Room, history.More));
            Assert.Equal([new ChatMessage("general", 1, When, "a", "one"), new ChatMessage("general", 2, When, "b", "two")], history.Messages);
        }),
        "pong" => (Written(ChatEventWriter.WritePong), e => Assert.IsType<PongEvent>(e)),
        "error" => (Written(b => ChatEventWriter.WriteError(b, new ChatError(ErrorCodes.NotAMember, "join first", "send_message", 4))), e =>
            Assert.Equal(new ChatError(ErrorCodes.NotAMember, "join first", "send_message", 4), Assert.IsType<ErrorEvent>(e).Error)),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    [Theory]
    [MemberData(nameof(EventNames))]
    public void Every_event_the_server_writes_reads_back_the_same_when_split_at_every_position(string name)
    {
        (byte[] line, Action<ChatEvent> check) = Event(name);
        Assert.True(ChatEventReader.TryRead(new ReadOnlySequence<byte>(line), out ChatEvent? whole, out string? error), error);
        check(whole);
        for (int split = 1; split < line.Length; split++)
        {
            Assert.True(ChatEventReader.TryRead(Sequence(line[..split], line[split..]), out ChatEvent? read, out error), error);
            check(read);
        }
    }

    [Fact]
    public void An_event_tag_may_come_last_unknown_fields_are_ignored_and_an_unknown_event_is_named()
    {
        Assert.True(ChatEventReader.TryRead(Sequence("""{"r":"general","id":3,"future":{"x":[1,2]},"_et":"message_ack"}"""), out ChatEvent? ack, out _));
        Assert.Equal(new MessageAckEvent("general", 3), ack);
        Assert.True(ChatEventReader.TryRead(Sequence("""{"_et":"typing","r":"general"}"""), out ChatEvent? unknown, out _));
        Assert.Equal(new UnknownEvent("typing"), unknown);
    }

    [Theory]
    [InlineData("not json", "not valid JSON")]
    [InlineData("[1,2]", "one JSON object")]
    [InlineData("""{"r":"general"}""", "no \"_et\"")]
    [InlineData("""{"_et":"message_ack","r":"general"}""", "needs \"id\"")]
    [InlineData("""{"_et":"message_ack","r":"general","id":"7"}""", "\"id\" must be an integer")]
    [InlineData("""{"_et":"user_message","r":"g","u":"a","c":"x","id":1,"t":"yesterday"}""", "ISO 8601")]
    [InlineData("""{"_et":"room_participation","r":"g","u":"a","s":"maybe"}""", "needs \"s")]
    [InlineData("""{"_et":"history","r":"g","ms":[1]}""", "\"ms\" must hold objects")]
    [InlineData("""{"_et":"rooms","rs":{}}""", "\"rs\" must be an array")]
    [InlineData("""{"_et":"pong"} {"_et":"pong"}""", "not valid JSON")]
    [InlineData("""{"_et":"pong","x":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}""", "not valid JSON")]
    public void A_line_that_is_not_an_event_is_refused_with_a_reason(string line, string reason)
    {
        Assert.False(ChatEventReader.TryRead(Sequence(line), out _, out string? error));
        Assert.Contains(reason, error);
    }

    [Fact]
    public void Text_that_is_not_utf8_is_refused()
    {
        byte[] line = [.. "{\"_et\":\"user_message\",\"r\":\"g\",\"u\":\"a\",\"c\":\""u8, 0xFF, .. "\",\"id\":1,\"t\":\"2026-01-01T00:00:00Z\"}"u8];
        Assert.False(ChatEventReader.TryRead(new ReadOnlySequence<byte>(line), out _, out string? error));
        Assert.Contains("UTF-8", error);
    }

    [Fact]
    public void The_header_reader_finds_type_room_content_and_id_without_allocating()
    {
        byte[] line = Written(b => ChatEventWriter.WriteUserMessage(b, new ChatMessage("general", 99, When, "bob", "1 2 3 ....")));
        var buffer = new ArrayBufferWriter<byte>(1024);
        Span<byte> content = stackalloc byte[64];
        "7 8 9 ...."u8.CopyTo(content);

        // Warm up, then count: the bench's loop must cost the server's side nothing extra.
        for (int i = 0; i < 2; i++)
        {
            Assert.True(ChatEventReader.TryReadHeader(line, out _));
            buffer.ResetWrittenCount();
            ChatCommandWriter.WriteSendMessage(buffer, "general"u8, content[..10]);
        }

        int found = 0;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            ChatEventReader.TryReadHeader(line, out ChatEventHeader header);
            found += header.Type == ChatEventType.UserMessage ? 1 : 0;
        }

        long reading = GC.GetAllocatedBytesForCurrentThread() - before;
        before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            buffer.ResetWrittenCount();
            ChatCommandWriter.WriteSendMessage(buffer, "general"u8, content[..10]);
        }

        long writing = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal((100, 0L, 0L), (found, reading, writing));
        Assert.True(ChatEventReader.TryReadHeader(line, out ChatEventHeader read));
        Assert.Equal((ChatEventType.UserMessage, "general", "1 2 3 ....", 99L), (read.Type, Encoding.UTF8.GetString(read.Room), Encoding.UTF8.GetString(read.Content), read.Id));
        Assert.False(ChatEventReader.TryReadHeader("not json"u8, out _));
        Assert.False(ChatEventReader.TryReadHeader("""{"r":"general"}"""u8, out _));
    }

    [Fact]
    public void The_server_decodes_what_the_client_encodes_and_the_client_decodes_every_byte_the_server_sends()
    {
        // The server's own encoder of record (Events) and the public reader agree on real output.
        // A user_message is written once and its history form kept as a slice of it: both must be
        // byte for byte what the public writer makes of the same message, and read back the same.
        var room = new Room(new RoomDefinition("général", "d"), ChatProtocol.CreateClientFramer(), 64 * 1024);
        var expected = new ChatMessage("général", 1234567, When, "ü-user", "héllo \"x\"\n\u0001 </script> 😀");
        Span<byte> live = Events.UserMessage(room, Encoding.UTF8.GetBytes(expected.User), Encoding.UTF8.GetBytes(expected.Content), expected.Id, When, out int historyStart);
        room.AddHistory(expected.Id, live[historyStart..], firstRetained: 0);
        live[historyStart] = (byte)',';
        var publicWriter = new ArrayBufferWriter<byte>();
        ChatEventWriter.WriteUserMessage(publicWriter, expected);
        Assert.Equal(Encoding.UTF8.GetString(publicWriter.WrittenSpan), Encoding.UTF8.GetString(live));
        Assert.True(ChatEventReader.TryRead(new ReadOnlySequence<byte>(live.ToArray()), out ChatEvent? read, out string? error), error);
        Assert.Equal(expected, Assert.IsType<UserMessageEvent>(read).Message);

        Assert.True(Events.TryHistory(room, long.MaxValue, 50, 64 * 1024, firstRetained: 0, [], out bool more, out ReadOnlySpan<byte> page));
        Assert.False(more);
        byte[] history = page.ToArray();
        publicWriter.ResetWrittenCount();
        ChatEventWriter.WriteHistory(publicWriter, "général", [expected], more: false);
        Assert.Equal(Encoding.UTF8.GetString(publicWriter.WrittenSpan), Encoding.UTF8.GetString(history));

        // A page read from the journal is the same bytes.
        var entry = new PooledBufferWriter();
        ChatEventWriter.WriteHistoryMessage(entry, Encoding.UTF8.GetBytes(expected.User), Encoding.UTF8.GetBytes(expected.Content), expected.Id, When);
        byte[] fromJournal = Events.JournalHistory(room, entry.WrittenSpan, [entry.WrittenCount], 0, 0, more: false).ToArray();
        Assert.Equal(Encoding.UTF8.GetString(history), Encoding.UTF8.GetString(fromJournal));
        Assert.True(ChatEventReader.TryRead(new ReadOnlySequence<byte>(history), out read, out error), error);
        Assert.Equal(expected, Assert.Single(Assert.IsType<HistoryEvent>(read).Messages));

        byte[] ack = Events.MessageAck(room, 77, reference: -5).ToArray();
        publicWriter.ResetWrittenCount();
        ChatEventWriter.WriteMessageAck(publicWriter, "général", 77, -5);
        Assert.Equal(Encoding.UTF8.GetString(publicWriter.WrittenSpan), Encoding.UTF8.GetString(ack));
        Assert.Equal("""{"_et":"message_ack","r":"général","id":9}""", Encoding.UTF8.GetString(Events.MessageAck(room, 9, null)));
        Assert.True(ChatEventReader.TryRead(new ReadOnlySequence<byte>(ChatServer.RefusalEvent(CloseReason.ConnectionLimit).ToArray()), out read, out error), error);
        Assert.Equal(ErrorCodes.ServerFull, Assert.IsType<ErrorEvent>(read).Error.Code);
    }

    internal static ReadOnlySequence<byte> Sequence(string text) => new(Encoding.UTF8.GetBytes(text));

    internal static ReadOnlySequence<byte> Sequence(byte[] first, byte[] second)
    {
        var head = new Segment(first, 0);
        Segment tail = head.Append(second);
        return new ReadOnlySequence<byte>(head, 0, tail, second.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }

    [Fact]
    public void Event_field_names_are_matched_as_bytes_escaped_or_not_and_cost_no_string_each()
    {
        byte[] plain = """{"_et":"message_ack","r":"general","id":5,"ref":7,"extra":{"x":[1,2]}}"""u8.ToArray();
        byte[] escaped = """{"\u005fet":"message_ack","\u0072":"general","i\u0064":5,"ref":7}"""u8.ToArray();
        foreach (byte[] line in new[] { plain, escaped })
        {
            Assert.True(ChatEventReader.TryRead(new ReadOnlySequence<byte>(line), out ChatEvent? read, out string? error), error);
            MessageAckEvent ack = Assert.IsType<MessageAckEvent>(read);
            Assert.Equal(("general", 5L, (long?)7L), (ack.Room, ack.Id, ack.Ref));
        }

        // What one read allocates: the event, its two strings (tag, room), the reader's state.
        // Field names decoded as strings added one string per field (four here) on top of that.
        var sequence = new ReadOnlySequence<byte>(plain);
        Assert.True(ChatEventReader.TryRead(sequence, out _, out _));
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.True(ChatEventReader.TryRead(sequence, out _, out _));
        long withKnownNames = GC.GetAllocatedBytesForCurrentThread() - before;
        byte[] unknownNames = """{"_et":"message_ack","r":"general","id":5,"ref":7,"aa":1,"bb":2,"cc":3,"dd":4}"""u8.ToArray();
        Assert.True(ChatEventReader.TryRead(new ReadOnlySequence<byte>(unknownNames), out _, out _));
        before = GC.GetAllocatedBytesForCurrentThread();
        Assert.True(ChatEventReader.TryRead(new ReadOnlySequence<byte>(unknownNames), out _, out _));
        long withMoreNames = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(withMoreNames <= withKnownNames, $"{withKnownNames} bytes for the event, {withMoreNames} with four more field names");
    }
}
