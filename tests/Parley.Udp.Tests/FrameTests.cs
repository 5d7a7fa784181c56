namespace Parley.Udp.Tests;

public class FrameTests
{
    [Fact]
    public void Every_frame_kind_round_trips_coalesced_in_one_payload()
    {
        byte[] buffer = new byte[1200];
        var writer = new FrameWriter(buffer);
        byte[] fragment = [.. Enumerable.Range(0, MessageFrame.MinFragmentSize).Select(i => (byte)i)];
        Assert.True(writer.TryWriteMessage(new MessageFrame(3, DeliveryMode.ReliableOrdered, 77, 5, 1, 4, fragment, totalLength: 4 * MessageFrame.MinFragmentSize)));
        Assert.True(writer.TryWriteAck([new AckRange(10, 20), new AckRange(2, 5)], 15));
        Assert.True(writer.TryWriteDelivered([new DeliveredRun(77, 2), new DeliveredRun(2_000_000_000, DeliveredRun.MaxCount)]));
        Assert.True(writer.TryWriteHeartbeat(123_456, 654_321));
        Assert.True(writer.TryWriteWindow(65_536));
        Assert.True(writer.TryWriteNack(6, 4));
        Assert.True(writer.TryWritePathFrame(FrameType.PathChallenge, 0x0102_0304_0506_0708));
        Assert.True(writer.TryWritePathFrame(FrameType.PathResponse, ulong.MaxValue));
        Assert.True(writer.TryWriteClose(CloseReason.MessageTimeout));
        int written = writer.Written;

        var reader = new FrameReader(buffer.AsSpan(0, written));
        Assert.True(reader.TryReadNext());
        Assert.Equal(FrameType.Message, reader.Type);
        Assert.Equal((byte)3, reader.Message.Channel);
        Assert.Equal(DeliveryMode.ReliableOrdered, reader.Message.Mode);
        Assert.Equal(77u, reader.Message.MessageId);
        Assert.Equal(5u, reader.Message.Sequence);
        Assert.Equal((ushort)1, reader.Message.Fragment);
        Assert.Equal((ushort)4, reader.Message.Fragments);
        Assert.Equal(fragment, reader.Message.Data.ToArray());

        Assert.True(reader.TryReadNext());
        Assert.Equal(FrameType.Ack, reader.Type);
        Assert.Equal((ushort)15, reader.AckDelay);
        Assert.Equal(2, reader.AckRangeCount);
        Assert.Equal(new AckRange(10, 20), reader.AckRangeAt(0));
        Assert.Equal(new AckRange(2, 5), reader.AckRangeAt(1));

        Assert.True(reader.TryReadNext());
        Assert.Equal(FrameType.Delivered, reader.Type);
        Assert.Equal([new DeliveredRun(77, 2), new DeliveredRun(2_000_000_000, DeliveredRun.MaxCount)], Enumerable.Range(0, reader.DeliveredCount).Select(i => ReadDelivered(buffer, written, i)));

        Assert.True(reader.TryReadNext());
        Assert.Equal((FrameType.Heartbeat, 123_456L, 654_321L), (reader.Type, reader.Timestamp, reader.Echo));
        Assert.True(reader.TryReadNext());
        Assert.Equal((FrameType.Window, 65_536u), (reader.Type, reader.Value));
        Assert.True(reader.TryReadNext());
        Assert.Equal((FrameType.Nack, 6u, (ushort)4), (reader.Type, reader.Value, reader.Count));
        Assert.True(reader.TryReadNext());
        Assert.Equal((FrameType.PathChallenge, 0x0102_0304_0506_0708ul), (reader.Type, reader.Token));
        Assert.True(reader.TryReadNext());
        Assert.Equal((FrameType.PathResponse, ulong.MaxValue), (reader.Type, reader.Token));
        Assert.True(reader.TryReadNext());
        Assert.Equal((FrameType.Close, 6u), (reader.Type, reader.Value)); // the wire keeps its code (6, message timeout)
        Assert.Equal(CloseReason.MessageTimeout, CloseCodes.FromWire((byte)reader.Value));
        Assert.False(reader.TryReadNext());
        Assert.False(reader.Malformed);
    }

    private static DeliveredRun ReadDelivered(byte[] buffer, int written, int index)
    {
        var reader = new FrameReader(buffer.AsSpan(0, written));
        while (reader.TryReadNext())
        {
            if (reader.Type == FrameType.Delivered)
            {
                return reader.DeliveredAt(index);
            }
        }

        throw new InvalidOperationException("no Delivered frame");
    }

    [Fact]
    public void Consecutive_whole_messages_share_one_run_frame_and_read_back_one_by_one()
    {
        byte[] buffer = new byte[1200];
        var writer = new FrameWriter(buffer);
        Assert.True(writer.TryWriteMessage(new MessageFrame(2, DeliveryMode.ReliableOrdered, 10, 100, 0, 1, [1])));
        int afterFirst = writer.Written;
        Assert.True(writer.TryWriteMessage(new MessageFrame(2, DeliveryMode.ReliableOrdered, 11, 101, 0, 1, [2, 2])));
        Assert.True(writer.TryWriteMessage(new MessageFrame(2, DeliveryMode.ReliableOrdered, 12, 102, 0, 1, [])));
        Assert.Equal(FrameWriter.RunHeaderSize + FrameWriter.RunItemHeaderSize + 1, afterFirst);
        Assert.Equal(afterFirst + (2 * FrameWriter.RunItemHeaderSize) + 2, writer.Written); // joined: 2 bytes each, no header

        // Each of these breaks the run: another channel, a gap in ids, a gap in sequence, another mode, a fragment.
        Assert.True(writer.TryWriteMessage(new MessageFrame(3, DeliveryMode.ReliableOrdered, 13, 0, 0, 1, [3])));
        Assert.True(writer.TryWriteMessage(new MessageFrame(3, DeliveryMode.ReliableOrdered, 15, 1, 0, 1, [4])));
        Assert.True(writer.TryWriteMessage(new MessageFrame(3, DeliveryMode.ReliableOrdered, 16, 5, 0, 1, [5])));
        Assert.True(writer.TryWriteMessage(new MessageFrame(3, DeliveryMode.ReliableUnordered, 17, 6, 0, 1, [6])));
        byte[] half = [.. Enumerable.Repeat((byte)7, MessageFrame.MinFragmentSize)];
        Assert.True(writer.TryWriteMessage(new MessageFrame(3, DeliveryMode.ReliableUnordered, 18, 7, 0, 2, half, totalLength: 2 * MessageFrame.MinFragmentSize)));

        // Unreliable messages have no sequence: consecutive ids are enough.
        Assert.True(writer.TryWriteMessage(new MessageFrame(0, DeliveryMode.Unreliable, 0x8000_0005, 99, 0, 1, [8])));
        int beforeJoin = writer.Written;
        Assert.True(writer.TryWriteMessage(new MessageFrame(0, DeliveryMode.Unreliable, 0x8000_0006, 42, 0, 1, [9])));
        Assert.Equal(beforeJoin + FrameWriter.RunItemHeaderSize + 1, writer.Written);

        var reader = new FrameReader(buffer.AsSpan(0, writer.Written));
        var read = new List<(byte, DeliveryMode, uint, uint, ushort, ushort, string)>();
        while (reader.TryReadNext())
        {
            Assert.Equal(FrameType.Message, reader.Type);
            MessageFrame m = reader.Message;
            read.Add((m.Channel, m.Mode, m.MessageId, m.Sequence, m.Fragment, m.Fragments, Convert.ToHexString(m.Data)));
        }

        Assert.False(reader.Malformed);
        Assert.Equal(
            [
                (2, DeliveryMode.ReliableOrdered, 10u, 100u, 0, 1, "01"),
                (2, DeliveryMode.ReliableOrdered, 11u, 101u, 0, 1, "0202"),
                (2, DeliveryMode.ReliableOrdered, 12u, 102u, 0, 1, ""),
                (3, DeliveryMode.ReliableOrdered, 13u, 0u, 0, 1, "03"),
                (3, DeliveryMode.ReliableOrdered, 15u, 1u, 0, 1, "04"),
                (3, DeliveryMode.ReliableOrdered, 16u, 5u, 0, 1, "05"),
                (3, DeliveryMode.ReliableUnordered, 17u, 6u, 0, 1, "06"),
                (3, DeliveryMode.ReliableUnordered, 18u, 7u, 0, 2, string.Concat(Enumerable.Repeat("07", MessageFrame.MinFragmentSize))),
                (0, DeliveryMode.Unreliable, 0x8000_0005u, 0u, 0, 1, "08"),
                (0, DeliveryMode.Unreliable, 0x8000_0006u, 0u, 0, 1, "09"),
            ],
            read);
    }

    [Fact]
    public void Another_frame_between_two_consecutive_messages_ends_the_run()
    {
        byte[] buffer = new byte[200];
        var writer = new FrameWriter(buffer);
        Assert.True(writer.TryWriteMessage(new MessageFrame(0, DeliveryMode.ReliableOrdered, 1, 0, 0, 1, [1])));
        Assert.True(writer.TryWriteWindow(7));
        Assert.True(writer.TryWriteMessage(new MessageFrame(0, DeliveryMode.ReliableOrdered, 2, 1, 0, 1, [2])));

        var reader = new FrameReader(buffer.AsSpan(0, writer.Written));
        Assert.True(reader.TryReadNext());
        Assert.Equal((FrameType.Message, 1u), (reader.Type, reader.Message.MessageId));
        Assert.True(reader.TryReadNext());
        Assert.Equal((FrameType.Window, 7u), (reader.Type, reader.Value));
        Assert.True(reader.TryReadNext());
        Assert.Equal((FrameType.Message, 2u, (byte)2), (reader.Type, reader.Message.MessageId, reader.Message.Data[0]));
        Assert.False(reader.TryReadNext());
        Assert.False(reader.Malformed);
    }

    [Fact]
    public void A_run_holds_at_most_255_messages_and_the_next_opens_another()
    {
        byte[] buffer = new byte[2000];
        var writer = new FrameWriter(buffer);
        for (uint i = 0; i < 300; i++)
        {
            Assert.True(writer.TryWriteMessage(new MessageFrame(0, DeliveryMode.ReliableOrdered, 1 + i, i, 0, 1, [])));
        }

        Assert.Equal((2 * FrameWriter.RunHeaderSize) + (300 * FrameWriter.RunItemHeaderSize), writer.Written);
        var reader = new FrameReader(buffer.AsSpan(0, writer.Written));
        uint expected = 1;
        while (reader.TryReadNext())
        {
            Assert.Equal((expected, expected - 1), (reader.Message.MessageId, reader.Message.Sequence));
            expected++;
        }

        Assert.Equal(301u, expected);
        Assert.False(reader.Malformed);
    }

    [Fact]
    public void A_frame_that_does_not_fit_is_not_written_and_padding_ends_the_payload()
    {
        byte[] buffer = new byte[40];
        var writer = new FrameWriter(buffer);
        Assert.False(writer.TryWriteMessage(new MessageFrame(0, DeliveryMode.Unreliable, 1, 0, 0, 1, new byte[30])));
        Assert.Equal(0, writer.Written);
        Assert.True(writer.TryWriteWindow(1));
        writer.Pad();
        Assert.Equal(40, writer.Written);
        var reader = new FrameReader(buffer);
        Assert.True(reader.TryReadNext());
        Assert.False(reader.TryReadNext());
        Assert.False(reader.Malformed);
    }

    [Fact]
    public void Random_payloads_of_every_length_never_throw_and_truncated_frames_are_malformed()
    {
        var random = new Random(2026);
        for (int length = 0; length <= 1200; length++)
        {
            for (int round = 0; round < 4; round++)
            {
                byte[] payload = new byte[length];
                random.NextBytes(payload);
                var reader = new FrameReader(payload);
                int frames = 0;
                while (reader.TryReadNext())
                {
                    frames++;
                    Assert.True(frames <= length, "a reader must make progress");
                }
            }
        }

        // A valid message frame cut anywhere short of its end is malformed, never read past.
        byte[] buffer = new byte[100];
        var writer = new FrameWriter(buffer);
        Assert.True(writer.TryWriteMessage(new MessageFrame(1, DeliveryMode.ReliableUnordered, 5, 0, 0, 1, new byte[20])));
        for (int cut = 1; cut < writer.Written; cut++)
        {
            var reader = new FrameReader(buffer.AsSpan(0, cut));
            Assert.False(reader.TryReadNext());
            Assert.True(reader.Malformed, $"cut at {cut}");
        }
    }

    [Theory]
    [InlineData(new byte[] { 2, 0, 0, 1, 5, 0, 0, 0, 4, 0, 0, 0 })]       // ack range with first > last
    [InlineData(new byte[] { 2, 0, 0, 0 })]                               // ack with no ranges
    [InlineData(new byte[] { 3, 0 })]                                     // delivered with no ids
    [InlineData(new byte[] { 11 })]                                       // unknown frame type
    [InlineData(new byte[] { 8 })]                                        // close without its reason
    [InlineData(new byte[] { 9, 1, 2, 3, 4, 5, 6, 7 })]                   // path challenge short of its 8 bytes
    [InlineData(new byte[] { 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0 })] // unknown delivery mode
    [InlineData(new byte[] { 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1, 0, 0, 0 })] // fragment index past the count
    [InlineData(new byte[] { 7, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0 })]       // message run of no messages
    [InlineData(new byte[] { 7, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0 })] // message run with an unknown mode
    [InlineData(new byte[] { 7, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 1, 5, 0, 1 })] // message run item longer than the payload
    public void Nonsense_inside_a_well_formed_length_is_malformed(byte[] payload)
    {
        var reader = new FrameReader(payload);
        Assert.False(reader.TryReadNext());
        Assert.True(reader.Malformed);
    }

    [Theory]
    [InlineData(1024 * 1024, 17)]                          // issue 16: a 1 MiB message in 61 681 pieces of 17 bytes
    [InlineData(2 * 255, 255)]                             // just under the minimum
    [InlineData(2 * MessageFrame.MinFragmentSize, MessageFrame.MinFragmentSize)] // the minimum itself is fine
    public void A_message_cut_finer_than_the_minimum_fragment_size_is_malformed(int total, int size)
    {
        ushort fragments = (ushort)((total + size - 1) / size);
        byte[] buffer = new byte[MessageFrame.FragmentHeaderSize + size];
        var writer = new FrameWriter(buffer);
        Assert.True(writer.TryWriteMessage(new MessageFrame(0, DeliveryMode.ReliableOrdered, 1, 0, 0, fragments, new byte[size], (uint)total)));
        var reader = new FrameReader(buffer);
        Assert.Equal(size >= MessageFrame.MinFragmentSize, reader.TryReadNext());
        Assert.Equal(size < MessageFrame.MinFragmentSize, reader.Malformed);
    }
}
