using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Parley.Chat;

namespace Parley.Bench;

/// <summary>
/// One bench user of the chat protocol: sends commands as lines, and counts what arrives —
/// acknowledgements, deliveries with their latency (each message's content starts with its
/// sender, its room's number in the bench's list, sequence number and send time), and gaps in each sender's sequence per room.
/// Runs its handlers on its own receive loop only. Commands are written and events read by
/// Parley.Chat's protocol codec, without allocating per message.
/// </summary>
internal sealed class ChatBenchClient(ServerUnderTest server, System.Net.IPEndPoint? local, int index, bool readGreeting = false) : BenchConnection(server, local, chat: true, index)
{
    // One line buffer and one content buffer per sending thread: the pacing loop and the burst's tasks send from many.
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_line;

    [ThreadStatic]
    private static byte[]? t_content;

    private readonly Dictionary<long, SequenceTracker> _streams = [];

    // With several nodes: each room's messages as they arrived (id, sender, sequence), to check
    // that every node delivers one order with the same ids.
    private readonly Dictionary<long, List<(long Id, long Sender, long Sequence)>>? _arrivals = server.Targets.Count > 1 ? [] : null;

    /// <summary>Each room's messages in arrival order so far, by room number (with several nodes only), copied: the receive loop may still be adding.</summary>
    public Dictionary<long, (long Id, long Sender, long Sequence)[]>? Arrivals()
    {
        if (_arrivals is null)
        {
            return null;
        }

        lock (_arrivals)
        {
            return _arrivals.ToDictionary(pair => pair.Key, pair => pair.Value.ToArray());
        }
    }
    private readonly TaskCompletionSource _loggedIn = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _acked = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource<RoomsEvent>? _roomsPage; // a list_rooms request waiting for its page
    private TaskCompletionSource _joined = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _joinsWanted;
    private int _joins;
    private long _delivered;
    private long _acks;
    private long _errors;

    public int Index { get; } = index;

    public LatencyHistogram Latency { get; } = new();

    public long Delivered => Volatile.Read(ref _delivered);

    public long Acks => Volatile.Read(ref _acks);

    public long Errors => Volatile.Read(ref _errors);

    public long Reordered { get; private set; }

    public long Duplicated { get; private set; }

    /// <summary>Messages missing between two that arrived from the same sender in the same room. Read once the run is over.</summary>
    public long Gaps => _streams.Values.Sum(t => t.Lost(0));

    /// <summary>Set when counting starts; before it, deliveries are not recorded.</summary>
    public volatile bool Measuring;

    public string? LastError { get; private set; }

    public Task LoggedIn => _loggedIn.Task;

    /// <summary>The server's greeting (<c>login_successful</c>: this connection's user and the room list), once <see cref="LoggedIn"/>; read only when asked for at construction (the probe), not by every load client.</summary>
    public LoginSuccessfulEvent? Greeting { get; private set; }

    /// <summary>Asks for a page of the room list after <paramref name="after"/> (<c>list_rooms</c>), for a greeting cut short (<c>more</c>).</summary>
    public Task<RoomsEvent> ListRoomsAsync(string after)
    {
        var page = new TaskCompletionSource<RoomsEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        _roomsPage = page;
        if (Closed)
        {
            page.TrySetException(new IOException("the server closed the connection"));
            return page.Task;
        }

        var command = new ArrayBufferWriter<byte>();
        ChatCommandWriter.WriteListRooms(command, after);
        Send(command.WrittenSpan);
        return page.Task;
    }

    public Task FirstAck => _acked.Task;

    /// <summary>Joins <paramref name="rooms"/> and completes when the server confirmed them all.</summary>
    public Task JoinAsync(IReadOnlyList<string> rooms)
    {
        _joined = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Closed)
        {
            _joined.TrySetException(new IOException("the server closed the connection"));
            return _joined.Task;
        }

        Volatile.Write(ref _joinsWanted, rooms.Count);
        var command = new ArrayBufferWriter<byte>();
        foreach (string room in rooms)
        {
            command.ResetWrittenCount();
            ChatCommandWriter.WriteJoinRoom(command, room);
            Send(command.WrittenSpan); // the line framer adds the line feed
        }

        return _joined.Task;
    }

    /// <summary>
    /// Builds a send_message command (the line framer adds the line feed): content "SENDER ROOM
    /// SEQUENCE TIMESTAMP" (ROOM: the room's number in the bench's list, so receivers tell rooms
    /// apart without decoding names) padded with dots to <paramref name="size"/> bytes. The span is the calling
    /// thread's buffer: send it before the thread formats the next one.
    /// </summary>
    public static ReadOnlySpan<byte> FormatMessage(string room, int roomNumber, int sender, int sequence, int size)
    {
        // Formatted as bytes into reused buffers: nothing allocated per message (the bench must stay cheaper than the server).
        byte[] content = t_content is { } kept && kept.Length >= size + 64 ? kept : t_content = new byte[size + 64];
        System.Text.Unicode.Utf8.TryWrite(content, CultureInfo.InvariantCulture, $"{sender} {roomNumber} {sequence} {Stopwatch.GetTimestamp()} ", out int length);
        if (length < size)
        {
            content.AsSpan(length, size - length).Fill((byte)'.');
            length = size;
        }

        int most = Encoding.UTF8.GetMaxByteCount(room.Length);
        Span<byte> roomBytes = most <= 1024 ? stackalloc byte[most] : new byte[most]; // a server's names may be long
        roomBytes = roomBytes[..Encoding.UTF8.GetBytes(room, roomBytes)];
        ArrayBufferWriter<byte> line = t_line ??= new ArrayBufferWriter<byte>(size + 256);
        line.ResetWrittenCount();
        ChatCommandWriter.WriteSendMessage(line, roomBytes, content.AsSpan(0, length));
        return line.WrittenSpan;
    }

    /// <summary>Whatever the client still waits for will not come: fail it now instead of at its timeout.</summary>
    protected override void OnClosed()
    {
        var closed = new IOException("the server closed the connection");
        _loggedIn.TrySetException(closed);
        _acked.TrySetException(closed);
        _joined.TrySetException(closed);
        _roomsPage?.TrySetException(closed);
    }

    protected override void OnFrame(ReadOnlySpan<byte> line)
    {
        // The header reader allocates nothing: room and content stay raw spans of the line (the bench's own ASCII).
        if (!ChatEventReader.TryReadHeader(line, out ChatEventHeader header))
        {
            return;
        }

        switch (header.Type)
        {
            case ChatEventType.UserMessage:
                OnMessage(header.Content, header.Id);
                break;
            case ChatEventType.MessageAck:
                Interlocked.Increment(ref _acks);
                _acked.TrySetResult();
                break;
            case ChatEventType.UserJoinedRoom:
                if (++_joins == Volatile.Read(ref _joinsWanted))
                {
                    _joins = 0;
                    _joined.TrySetResult();
                }

                break;
            case ChatEventType.LoginSuccessful:
                if (readGreeting)
                {
                    // The probe only: the whole event is read for its room list (thousands of rooms are a large line).
                    Greeting = ChatEventReader.TryRead(new ReadOnlySequence<byte>(line.ToArray()), out ChatEvent? greeting, out _) ? greeting as LoginSuccessfulEvent : null;
                }

                _loggedIn.TrySetResult();
                break;
            case ChatEventType.Rooms:
                if (ChatEventReader.TryRead(new ReadOnlySequence<byte>(line.ToArray()), out ChatEvent? page, out string? pageError) && page is RoomsEvent rooms)
                {
                    _roomsPage?.TrySetResult(rooms);
                }
                else
                {
                    _roomsPage?.TrySetException(new InvalidDataException($"the server's room list could not be read: {pageError}"));
                }

                break;
            case ChatEventType.Error:
                Interlocked.Increment(ref _errors);
                LastError = Encoding.UTF8.GetString(line);
                _roomsPage?.TrySetException(new InvalidDataException($"the server refused a command: {LastError}")); // a list_rooms waiting, if any
                break;
            default:
                break;
        }
    }

    private void OnMessage(ReadOnlySpan<byte> content, long id)
    {
        if (!Measuring)
        {
            return;
        }

        // "SENDER ROOM SEQUENCE TIMESTAMP ...." — content the bench itself wrote, ASCII, unescaped.
        // The room is a number the sender wrote, not the name: names may be anything the server allows.
        if (!NextNumber(ref content, out long sender) || !NextNumber(ref content, out long roomNumber)
            || !NextNumber(ref content, out long sequence) || !NextNumber(ref content, out long sentAt))
        {
            return;
        }

        Latency.Record((long)Stopwatch.GetElapsedTime(sentAt).TotalMicroseconds);
        Interlocked.Increment(ref _delivered);
        if (_arrivals is not null)
        {
            lock (_arrivals)
            {
                ref List<(long, long, long)>? arrivals = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_arrivals, roomNumber, out _);
                (arrivals ??= []).Add((id, sender, sequence));
            }
        }

        long key = (sender << 32) | (uint)roomNumber;
        ref SequenceTracker tracker = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_streams, key, out bool existed);
        if (!existed)
        {
            // The first message seen from this sender in this room starts the stream (the receiver may have joined late).
            tracker = SequenceTracker.StartingAt((int)sequence);
        }

        switch (tracker.Record((int)sequence))
        {
            case Arrival.Reordered:
                Reordered++;
                break;
            case Arrival.Duplicate:
                Duplicated++;
                break;
            default:
                break;
        }
    }

    // Parses the number up to the next space and moves past it.
    private static bool NextNumber(ref ReadOnlySpan<byte> text, out long value)
    {
        int space = text.IndexOf((byte)' ');
        if (space <= 0 || !System.Buffers.Text.Utf8Parser.TryParse(text[..space], out value, out int used) || used != space)
        {
            value = 0;
            return false;
        }

        text = text[(space + 1)..];
        return true;
    }
}
