using System.Buffers;
using System.Text;

namespace Parley.Tests;

public class FramerTests
{
    /// <summary>Parses every frame from the start of <paramref name="buffer"/>; returns the payloads and the final status.</summary>
    private static (List<byte[]> Messages, FrameParseStatus Last, long Consumed) ParseAll(MessageFramer framer, ReadOnlySequence<byte> buffer)
    {
        var messages = new List<byte[]>();
        long start = buffer.Length;
        while (true)
        {
            FrameParseStatus status = framer.TryParse(buffer, out ReadOnlySequence<byte> payload, out SequencePosition consumed);
            if (status == FrameParseStatus.Message)
            {
                messages.Add(payload.ToArray());
            }
            else if (status != FrameParseStatus.KeepAlive)
            {
                return (messages, status, start - buffer.Length);
            }

            buffer = buffer.Slice(consumed);
        }
    }

    /// <summary>Feeds the stream one byte at a time, each byte its own segment, consuming as a pipe reader would.</summary>
    private static (List<byte[]> Messages, FrameParseStatus Last) FeedByteByByte(MessageFramer framer, byte[] stream)
    {
        var messages = new List<byte[]>();
        var pending = new List<byte[]>();
        FrameParseStatus last = FrameParseStatus.NeedMoreData;
        foreach (byte b in stream)
        {
            pending.Add([b]);
            ReadOnlySequence<byte> buffer = TestSupport.Segmented([.. pending]);
            (List<byte[]> found, last, long consumed) = ParseAll(framer, buffer);
            messages.AddRange(found);
            if (last is FrameParseStatus.FrameTooLarge or FrameParseStatus.Malformed)
            {
                return (messages, last);
            }

            pending.RemoveRange(0, (int)consumed);
        }

        return (messages, last);
    }

    private static byte[] LengthStream(out List<byte[]> payloads)
    {
        payloads = [TestSupport.Pattern(1, 1), TestSupport.Pattern(3, 2), TestSupport.Pattern(300, 3), TestSupport.Pattern(5, 4)];
        var stream = new List<byte>();
        stream.AddRange(TestSupport.LengthPrefixed(payloads[0]));
        stream.AddRange(new byte[4]); // keep-alive between messages
        foreach (byte[] payload in payloads.Skip(1))
        {
            stream.AddRange(TestSupport.LengthPrefixed(payload));
        }

        return [.. stream];
    }

    [Fact]
    public void Length_prefixed_frames_fed_byte_by_byte_come_out_whole_and_keep_alives_are_not_delivered()
    {
        byte[] stream = LengthStream(out List<byte[]> payloads);
        (List<byte[]> messages, FrameParseStatus last) = FeedByteByByte(LengthPrefixedFramer.Default, stream);
        Assert.Equal(payloads, messages);
        Assert.Equal(FrameParseStatus.NeedMoreData, last);
    }

    [Fact]
    public void Length_prefixed_stream_split_into_two_segments_at_every_position_parses_identically()
    {
        byte[] stream = LengthStream(out List<byte[]> payloads);
        for (int split = 0; split <= stream.Length; split++)
        {
            ReadOnlySequence<byte> buffer = TestSupport.Segmented(stream[..split], stream[split..]);
            (List<byte[]> messages, FrameParseStatus last, long consumed) = ParseAll(LengthPrefixedFramer.Default, buffer);
            Assert.Equal(payloads, messages);
            Assert.Equal(FrameParseStatus.NeedMoreData, last);
            Assert.Equal(stream.Length, consumed);
        }
    }

    [Fact]
    public void Length_prefixed_stream_split_into_three_segments_at_every_pair_of_positions_parses_identically()
    {
        byte[] stream = LengthStream(out List<byte[]> payloads)[..40];
        for (int a = 0; a <= stream.Length; a++)
        {
            for (int b = a; b <= stream.Length; b++)
            {
                ReadOnlySequence<byte> buffer = TestSupport.Segmented(stream[..a], stream[a..b], stream[b..]);
                (List<byte[]> messages, _, _) = ParseAll(LengthPrefixedFramer.Default, buffer);
                Assert.Equal(payloads.Take(messages.Count), messages);
                Assert.Equal(2, messages.Count);
            }
        }
    }

    [Theory]
    [InlineData(0xFFFFFFFFu)]
    [InlineData(0x80000000u)]
    [InlineData(1024u * 1024u + 1u)]
    public void Length_prefix_above_the_limit_is_rejected_from_the_header_alone(uint announced)
    {
        byte[] header = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(header, announced);
        FrameParseStatus status = LengthPrefixedFramer.Default.TryParse(new ReadOnlySequence<byte>(header), out _, out _);
        Assert.Equal(FrameParseStatus.FrameTooLarge, status);

        // Also when the header itself is split across segments.
        status = LengthPrefixedFramer.Default.TryParse(TestSupport.Segmented(header[..1], header[1..3], header[3..]), out _, out _);
        Assert.Equal(FrameParseStatus.FrameTooLarge, status);
    }

    [Fact]
    public void Length_prefix_exactly_at_the_limit_is_accepted()
    {
        var framer = new LengthPrefixedFramer(maxMessageSize: 16);
        byte[] frame = TestSupport.LengthPrefixed(TestSupport.Pattern(16, 9));
        Assert.Equal(FrameParseStatus.Message, framer.TryParse(new ReadOnlySequence<byte>(frame), out ReadOnlySequence<byte> payload, out _));
        Assert.Equal(TestSupport.Pattern(16, 9), payload.ToArray());
        Assert.Equal(FrameParseStatus.FrameTooLarge, framer.TryParse(new ReadOnlySequence<byte>(TestSupport.LengthPrefixed(new byte[17])), out _, out _));
    }

    [Fact]
    public void Length_prefixed_write_then_parse_round_trips_and_oversized_payloads_are_refused()
    {
        var framer = new LengthPrefixedFramer(maxMessageSize: 100);
        var pool = new BufferPool();
        Frame frame = framer.CreateFrame(TestSupport.Pattern(100, 5), pool);
        Assert.Equal(104, frame.Length);
        Assert.Equal(FrameParseStatus.Message, framer.TryParse(new ReadOnlySequence<byte>(frame.Memory), out ReadOnlySequence<byte> payload, out _));
        Assert.Equal(TestSupport.Pattern(100, 5), payload.ToArray());
        frame.Release();
        Assert.Throws<ArgumentException>(() => framer.CreateFrame(new byte[101], pool));
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void Line_frames_accept_lf_and_crlf_skip_empty_lines_and_survive_every_split()
    {
        byte[] stream = Encoding.UTF8.GetBytes("alpha\r\nbeta\n\n\r\ngamma delta\r\n{\"_ct\":\"quit\"}\n");
        string[] expected = ["alpha", "beta", "gamma delta", "{\"_ct\":\"quit\"}"];
        for (int split = 0; split <= stream.Length; split++)
        {
            ReadOnlySequence<byte> buffer = TestSupport.Segmented(stream[..split], stream[split..]);
            (List<byte[]> messages, FrameParseStatus last, long consumed) = ParseAll(LineFramer.Default, buffer);
            Assert.Equal(expected, messages.Select(m => Encoding.UTF8.GetString(m)));
            Assert.Equal(FrameParseStatus.NeedMoreData, last);
            Assert.Equal(stream.Length, consumed);
        }

        (List<byte[]> bytewise, _) = FeedByteByByte(LineFramer.Default, stream);
        Assert.Equal(expected, bytewise.Select(m => Encoding.UTF8.GetString(m)));
    }

    [Fact]
    public void A_line_longer_than_the_limit_is_rejected_before_its_newline_arrives()
    {
        var framer = new LineFramer(maxLineLength: 8);
        Assert.Equal(FrameParseStatus.NeedMoreData, framer.TryParse(new ReadOnlySequence<byte>("12345678"u8.ToArray()), out _, out _));
        Assert.Equal(FrameParseStatus.NeedMoreData, framer.TryParse(new ReadOnlySequence<byte>("12345678\r"u8.ToArray()), out _, out _));
        Assert.Equal(FrameParseStatus.FrameTooLarge, framer.TryParse(new ReadOnlySequence<byte>("123456789"u8.ToArray()), out _, out _));
        Assert.Equal(FrameParseStatus.FrameTooLarge, framer.TryParse(new ReadOnlySequence<byte>("123456789\n"u8.ToArray()), out _, out _));
        Assert.Equal(FrameParseStatus.Message, framer.TryParse(new ReadOnlySequence<byte>("12345678\r\n"u8.ToArray()), out ReadOnlySequence<byte> line, out _));
        Assert.Equal("12345678"u8.ToArray(), line.ToArray());

        (_, FrameParseStatus last) = FeedByteByByte(framer, Encoding.ASCII.GetBytes(new string('x', 1000)));
        Assert.Equal(FrameParseStatus.FrameTooLarge, last);
    }

    [Fact]
    public void Line_framer_refuses_to_send_a_payload_containing_a_newline()
    {
        var pool = new BufferPool();
        Assert.Throws<ArgumentException>(() => LineFramer.Default.CreateFrame("two\nlines"u8, pool));
        Frame frame = LineFramer.Default.CreateFrame("one line"u8, pool);
        Assert.Equal("one line\n"u8.ToArray(), frame.Memory.ToArray());
        frame.Release();
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void Raw_framer_delivers_whatever_is_buffered_and_writes_bytes_unchanged()
    {
        ReadOnlySequence<byte> buffer = TestSupport.Segmented([1, 2], [3]);
        Assert.Equal(FrameParseStatus.Message, RawFramer.Default.TryParse(buffer, out ReadOnlySequence<byte> payload, out SequencePosition consumed));
        Assert.Equal(new byte[] { 1, 2, 3 }, payload.ToArray());
        Assert.Equal(buffer.End, consumed);
        Assert.Equal(FrameParseStatus.NeedMoreData, RawFramer.Default.TryParse(ReadOnlySequence<byte>.Empty, out _, out _));
        Assert.Null(RawFramer.Default.KeepAliveFrame);
    }

    [Fact]
    public void A_shared_frame_returns_its_buffer_only_after_the_last_reference_is_released()
    {
        var pool = new BufferPool();
        Frame frame = LengthPrefixedFramer.Default.CreateFrame("hi"u8, pool);
        frame.AddReference();
        frame.AddReference();
        frame.Release();
        frame.Release();
        Assert.Equal(1, pool.Outstanding);
        frame.Release();
        Assert.Equal(0, pool.Outstanding);
    }
}

public class ContiguousParseTests
{
    public static TheoryData<string> Framers => ["length", "line"];

    private static MessageFramer Create(string kind) => kind == "length" ? new LengthPrefixedFramer(64) : new LineFramer(64);

    /// <summary>Random streams of valid, over-long, keep-alive and cut-off frames: wherever the
    /// contiguous fast path answers Message or KeepAlive, the sequence overload answers the same.</summary>
    [Theory]
    [MemberData(nameof(Framers))]
    public void The_contiguous_fast_path_agrees_with_the_sequence_parse_wherever_it_answers(string kind)
    {
        MessageFramer framer = Create(kind);
        var random = new Random(17);
        int answered = 0;
        for (int round = 0; round < 20_000; round++)
        {
            byte[] bytes = RandomStream(kind, random);
            for (int start = 0; start < bytes.Length; start++)
            {
                ReadOnlySpan<byte> span = bytes.AsSpan(start);
                FrameParseStatus fast = framer.TryParseContiguous(span, out int offset, out int length, out int consumed);
                FrameParseStatus slow = framer.TryParse(new ReadOnlySequence<byte>(bytes, start, bytes.Length - start), out ReadOnlySequence<byte> payload, out SequencePosition next);
                if (fast is FrameParseStatus.NeedMoreData)
                {
                    continue;
                }

                answered++;
                Assert.Equal(slow, fast);
                Assert.Equal(new ReadOnlySequence<byte>(bytes, start, bytes.Length - start).Slice(next).Length, bytes.Length - start - consumed);
                if (fast == FrameParseStatus.Message)
                {
                    Assert.Equal(payload.ToArray(), span.Slice(offset, length).ToArray());
                }
            }
        }

        Assert.True(answered > 10_000, "the fast path answered for most positions");
    }

    [Theory]
    [MemberData(nameof(Framers))]
    public void At_the_size_limit_the_fast_path_accepts_what_the_sequence_parse_accepts_and_declines_the_rest(string kind)
    {
        MessageFramer framer = Create(kind);
        foreach (int size in new[] { 63, 64, 65, 66 })
        {
            byte[] payload = Enumerable.Repeat((byte)'x', size).ToArray();
            foreach (byte[] frame in Frames(kind, payload))
            {
                FrameParseStatus slow = framer.TryParse(new ReadOnlySequence<byte>(frame), out _, out _);
                FrameParseStatus fast = framer.TryParseContiguous(frame, out _, out int length, out _);
                Assert.Equal(slow == FrameParseStatus.Message ? FrameParseStatus.Message : FrameParseStatus.NeedMoreData, fast);
                if (fast == FrameParseStatus.Message)
                {
                    Assert.Equal(size, length);
                }
            }
        }
    }

    private static IEnumerable<byte[]> Frames(string kind, byte[] payload)
    {
        if (kind == "length")
        {
            byte[] frame = new byte[4 + payload.Length];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)payload.Length);
            payload.CopyTo(frame, 4);
            yield return frame;
        }
        else
        {
            yield return [.. payload, (byte)'\n'];
            yield return [.. payload, (byte)'\r', (byte)'\n'];
        }
    }

    private static byte[] RandomStream(string kind, Random random)
    {
        var stream = new List<byte>();
        int frames = random.Next(1, 5);
        for (int i = 0; i < frames; i++)
        {
            int size = random.Next(10) switch
            {
                0 => 0,
                1 => random.Next(60, 80),
                _ => random.Next(1, 40),
            };
            byte[] payload = new byte[size];
            for (int j = 0; j < size; j++)
            {
                payload[j] = kind == "line" ? (byte)random.Next(0x0B, 0x7F) : (byte)random.Next(256);
                if (kind == "line" && random.Next(20) == 0)
                {
                    payload[j] = (byte)'\r';
                }
            }

            stream.AddRange(Frames(kind, payload).ElementAt(kind == "line" ? random.Next(2) : 0));
        }

        // Sometimes cut the last frame short.
        int cut = random.Next(3) == 0 ? random.Next(stream.Count) : stream.Count;
        return stream.Take(cut).ToArray();
    }
}
