using System.Buffers;
using System.Collections;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Parley.Journal;

namespace Parley.Chat.Tests;

/// <summary>Issue 18's send_message path: the fast reader against the general one, and what a pending message holds.</summary>
public class SendMessagePathTests
{
    private static byte[] Line(params object[] parts)
    {
        var bytes = new List<byte>();
        foreach (object part in parts)
        {
            if (part is string text)
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(text));
            }
            else
            {
                bytes.Add((byte)(int)part);
            }
        }

        return [.. bytes];
    }

    public static TheoryData<byte[]> Lines() => new()
    {
        // The general reader decodes every property name, so a name that is not UTF-8 is malformed there.
        Line("{\"_ct\":\"send_message\",\"r\":\"general\",\"c\":\"hi\",\"", 0xFF, "\":1}"),
        Line("{\"", 0xC3, "\":0,\"_ct\":\"send_message\",\"r\":\"general\",\"c\":\"hi\"}"),
        Line("{\"_ct\":\"send_message\",\"r\":\"general\",\"c\":\"hi\",\"x", 0xED, 0xA0, 0x80, "\":[1,{\"a\":2}]}"), // a UTF-8 encoded surrogate
        Line("{\"_ct\":\"send_message\",\"r\":\"general\",\"c\":\"hi\",\"\\ud800\":1}"),
        Line("{\"_ct\":\"send_message\",\"r\":\"general\",\"c\":\"hi\",\"\\u00e9", 0xFF, "\":1}"),
        // Accepted by both, with the same fields.
        Line("{\"_ct\":\"send_message\",\"r\":\"gen\\u0065ral\",\"c\":\"a\\\"b\\\\c\\u00e9\\/\\ud83d\\ude00\",\"ref\":9223372036854775807,\"\\u00e9t\\u00e9\":{\"y\":[\"", 0xFF, "\"]}}"),
        Line("{\"ref\":-1,\"c\":\"\\u0000x\",\"r\":\"general\",\"_ct\":\"send_message\",\"", "été", "\":null}"),
    };

    [Theory]
    [MemberData(nameof(Lines))]
    public void The_fast_reader_accepts_only_what_the_general_reader_accepts_as_the_same_send_wherever_the_line_is_split(byte[] line)
    {
        var framer = ChatProtocol.CreateClientFramer();
        var rooms = new RoomDirectory([new Room(new RoomDefinition("general", "d"), framer, 1024)]);
        const int Offset = PendingMessage.ContentOffset;
        for (int split = 0; split < line.Length; split++)
        {
            ReadOnlySequence<byte> sequence = Split(line, split);
            byte[] buffer = new byte[Offset + line.Length];
            bool fast = SendMessageReader.TryRead(sequence, rooms, buffer, Offset, out Room? room, out int length, out long? reference);
            bool general = ChatCommandReader.TryRead(sequence, out ChatCommand command, out ChatError error);
            if (fast)
            {
                Assert.True(general, $"split at {split}: the fast reader took a line the general one refuses ({error.Code}: {error.Message})");
                Assert.Equal(ChatCommandType.SendMessage, command.Type);
                Assert.Equal(command.Room, room!.Name);
                Assert.Equal(command.Content, Encoding.UTF8.GetString(buffer, Offset, length));
                Assert.Equal(command.Ref, reference);
            }
        }
    }

    [Fact]
    public async Task A_send_with_an_unknown_field_whose_name_is_not_UTF8_is_refused_as_malformed_and_not_stored()
    {
        await using var harness = ChatHarness.Start();
        TestClient alice = await harness.ConnectJoinedAsync();
        alice.Connection.Send(Line("{\"_ct\":\"send_message\",\"r\":\"general\",\"c\":\"hi\",\"", 0xFF, "\":1,\"ref\":7}"));
        JsonElement error = await alice.ExpectAsync("error");
        Assert.Equal(ErrorCodes.Malformed, error.GetProperty("code").GetString());
        Assert.Equal(0, harness.Server.LastMessageId);
    }

    [Fact]
    public async Task While_the_disk_is_stalled_a_pending_message_holds_about_its_record_not_the_line_it_came_in()
    {
        // The journal bounds what waits for the disk by the records' bytes (MaxPendingBytes): a
        // pending message must hold about that, whatever else its line carried.
        var storage = new GatedStorage();
        await using var harness = ChatHarness.Start(o => o.ConfigureJournal = j => j.Storage = storage);
        TestClient alice = await harness.ConnectJoinedAsync();

        storage.Close();
        const int Count = 100;
        try
        {
            alice.Send("""{"_ct":"send_message","r":"general","c":"first"}""");
            await storage.WhenWriterBlockedAsync();

            string padding = new('x', 20_000); // an unknown field: ignored, and within the line limit
            for (int i = 0; i < Count; i++)
            {
                alice.Send($$"""{"_ct":"send_message","r":"general","c":"{{i}}","pad":"{{padding}}"}""");
            }

            alice.Send("""{"_ct":"ping"}""");
            await alice.WaitForAsync("pong"); // every send above is appended, none committed

            List<PendingMessage> pending = PendingInJournal(harness.Server);
            Assert.Equal(Count + 1, pending.Count);
            long counted = pending.Sum(p => (long)(JournalFormat.RecordOverhead + p.Record.Length));
            long held = pending.Sum(p => (long)p.Buffer.Length);
            Assert.True(held <= 2 * counted, $"{pending.Count} pending messages hold {held} bytes of buffers; the journal counts {counted} bytes for them");
        }
        finally
        {
            storage.Open();
        }

        for (int i = 0; i <= Count; i++)
        {
            await alice.WaitForAsync("message_ack");
        }
    }

    /// <summary>The messages appended to the server's journal and not yet committed (their commit callbacks' states).</summary>
    private static List<PendingMessage> PendingInJournal(ChatServer server)
    {
        const BindingFlags Private = BindingFlags.NonPublic | BindingFlags.Instance;
        object journal = typeof(ChatServer).GetField("_journal", Private)!.GetValue(server)!;
        var found = new List<PendingMessage>();
        foreach (string field in new[] { "_writingCommits", "_pendingCommits" })
        {
            foreach (object commit in (IEnumerable)typeof(Parley.Journal.Journal).GetField(field, Private)!.GetValue(journal)!)
            {
                found.Add((PendingMessage)commit.GetType().GetProperty("State")!.GetValue(commit)!);
            }
        }

        return found;
    }

    private static ReadOnlySequence<byte> Split(byte[] line, int at)
    {
        if (at <= 0 || at >= line.Length)
        {
            return new ReadOnlySequence<byte>(line);
        }

        var first = new Segment(line.AsMemory(0, at), 0);
        var last = new Segment(line.AsMemory(at), at);
        first.SetNext(last);
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public void SetNext(Segment next) => Next = next;
    }
}

/// <summary>The journal's files with a gate in front of writes: closed, the writer thread waits in its next write (a stalled disk).</summary>
internal sealed class GatedStorage : JournalStorage
{
    private readonly ManualResetEventSlim _open = new(initialState: true);
    private readonly SemaphoreSlim _blocked = new(0);

    public void Close() => _open.Reset();

    public void Open() => _open.Set();

    /// <summary>Completes once the writer waits at the closed gate.</summary>
    public Task WhenWriterBlockedAsync() => _blocked.WaitAsync(ChatHarness.Timeout).ContinueWith(t => Assert.True(t.Result, "the writer never reached the gate"), TaskScheduler.Default);

    public override SegmentFile Wrap(SegmentFile file) => new GatedFile(this, file);

    private sealed class GatedFile(GatedStorage owner, SegmentFile file) : SegmentFile(file)
    {
        public override void Write(ReadOnlySpan<byte> data)
        {
            if (!owner._open.IsSet)
            {
                owner._blocked.Release();
                if (!owner._open.Wait(ChatHarness.Timeout))
                {
                    throw new TimeoutException("the test never opened the gate");
                }
            }

            base.Write(data);
        }
    }
}
