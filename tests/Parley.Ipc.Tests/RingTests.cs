using System.Runtime.InteropServices;

namespace Parley.Ipc.Tests;

/// <summary>The ring format alone, over native memory, with no processes or wake-ups.</summary>
public sealed unsafe class RingTests : IDisposable
{
    private const int Capacity = 4096;
    private readonly byte* _memory = (byte*)NativeMemory.AlignedAlloc(Capacity + 128, 128);

    public RingTests() => NativeMemory.Clear(_memory, Capacity + 128);

    public void Dispose() => NativeMemory.AlignedFree(_memory);

    private ulong* Tail => (ulong*)(_memory + Capacity);

    private int* ProducerWaiting => (int*)(_memory + Capacity + 64);

    private (RingWriter Writer, RingReader Reader) Create() =>
        (new RingWriter(_memory, Tail, Capacity), new RingReader(_memory, Tail, ProducerWaiting, Capacity));

    private static byte[] Payload(int length, int seed)
    {
        byte[] bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    [Fact]
    public void An_empty_ring_reads_nothing()
    {
        (_, RingReader reader) = Create();
        Assert.False(reader.TryRead(out _));
        Assert.False(reader.Peek());
    }

    [Fact]
    public void Messages_come_out_in_order_and_intact_including_empty_ones()
    {
        (RingWriter writer, RingReader reader) = Create();
        int[] sizes = [0, 1, 7, 8, 9, 100, 0, 255];
        for (int i = 0; i < sizes.Length; i++)
        {
            Assert.True(writer.TryWrite(Payload(sizes[i], i)));
        }

        for (int i = 0; i < sizes.Length; i++)
        {
            Assert.True(reader.TryRead(out ReadOnlySpan<byte> message));
            Assert.True(message.SequenceEqual(Payload(sizes[i], i)));
        }

        Assert.False(reader.TryRead(out _));
    }

    [Fact]
    public void Records_wrap_around_the_end_from_every_starting_offset()
    {
        // For every 8-byte offset the writer can stand at, messages of sizes that end before,
        // exactly at and across the end of the ring come out intact.
        for (int start = 0; start < Capacity; start += 8)
        {
            NativeMemory.Clear(_memory, Capacity + 128);
            (RingWriter writer, RingReader reader) = Create();
            for (int position = 0; position < start;)
            {
                int step = Math.Min(start - position, 1008); // filler records move the position to `start`
                Assert.True(writer.TryWrite(new byte[step - Ring.HeaderSize]));
                Assert.True(reader.TryRead(out _));
                position += step;
            }

            Assert.False(reader.TryRead(out _)); // releases the filler and publishes the tail
            for (int size = 1; size <= 300; size += 37)
            {
                byte[] payload = Payload(size, start + size);
                Assert.True(writer.TryWrite(payload), $"start {start}, size {size}");
                Assert.True(reader.TryRead(out ReadOnlySpan<byte> message), $"start {start}, size {size}");
                Assert.True(message.SequenceEqual(payload), $"start {start}, size {size}");
            }

            Assert.False(reader.TryRead(out _));
        }
    }

    [Fact]
    public void A_full_ring_refuses_until_the_reader_frees_room()
    {
        (RingWriter writer, RingReader reader) = Create();
        byte[] payload = new byte[100];
        int written = 0;
        while (writer.TryWrite(payload))
        {
            written++;
        }

        Assert.Equal((Capacity - Ring.HeaderSize) / Ring.RecordSize(100), written); // all of it but the zeroed header slot
        Assert.True(reader.TryRead(out _));
        Assert.False(writer.TryWrite(payload)); // consumed but not yet published
        for (int i = 1; i < written; i++)
        {
            Assert.True(reader.TryRead(out _));
        }

        Assert.False(reader.TryRead(out _)); // empty: the tail is published
        Assert.True(writer.TryWrite(payload));
    }

    [Fact]
    public void The_largest_message_is_half_the_ring_and_fits_after_any_wrap()
    {
        (RingWriter writer, RingReader reader) = Create();
        Assert.Equal(Capacity / 2 - Ring.HeaderSize, writer.MaxPayload);
        for (int i = 0; i < 9; i++)
        {
            byte[] payload = Payload(writer.MaxPayload - (i % 3 * 8), i);
            Assert.True(writer.TryWrite(payload));
            Assert.True(reader.TryRead(out ReadOnlySpan<byte> message));
            Assert.True(message.SequenceEqual(payload));
            Assert.False(reader.TryRead(out _));
        }
    }

    [Fact]
    public void A_byte_stream_is_cut_into_records_that_fit_and_reassembles_exactly()
    {
        (RingWriter writer, RingReader reader) = Create();
        byte[] stream = Payload(50_000, 1);
        var received = new List<byte>();
        int sent = 0;
        while (received.Count < stream.Length)
        {
            sent += writer.TryWriteSome(stream.AsSpan(sent));
            while (reader.TryRead(out ReadOnlySpan<byte> record))
            {
                Assert.InRange(record.Length, 1, writer.MaxPayload);
                received.AddRange(record.ToArray());
            }
        }

        Assert.Equal(stream, received.ToArray());
    }

    [Fact]
    public void A_length_beyond_the_ring_is_a_protocol_error_not_an_out_of_bounds_read()
    {
        (RingWriter writer, RingReader reader) = Create();
        Assert.True(writer.TryWrite([1, 2, 3]));
        *(uint*)_memory = 1_000_000; // the length, tag kept
        Assert.Throws<IpcProtocolException>(() => reader.TryRead(out _));
    }

    [Fact]
    public void A_length_that_would_cross_the_ring_end_is_a_protocol_error()
    {
        (RingWriter writer, RingReader reader) = Create();
        Assert.True(writer.TryWrite(new byte[100]));
        *(uint*)_memory = (uint)(Capacity / 2 - Ring.HeaderSize); // allowed size, but record 0 is followed by record 1…
        Assert.True(reader.TryRead(out ReadOnlySpan<byte> message)); // …fits: length is within the ring
        Assert.Equal(Capacity / 2 - Ring.HeaderSize, message.Length);

        NativeMemory.Clear(_memory, Capacity + 128);
        (writer, reader) = Create();
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.TryWrite(new byte[Capacity - 200])); // larger than half
        Assert.True(writer.TryWrite(new byte[1000]));
        Assert.True(reader.TryRead(out _));
        Assert.True(writer.TryWrite(new byte[1000]));
        Assert.True(writer.TryWrite(new byte[1000]));
        Assert.True(reader.TryRead(out _));
        Assert.True(reader.TryRead(out _));
        Assert.False(reader.TryRead(out _));
        Assert.True(writer.TryWrite(new byte[8])); // at offset 3024: 1072 bytes left on this lap
        int offset = 3 * Ring.RecordSize(1000);
        *(uint*)(_memory + offset) = 2000; // claims to run past the end of the ring
        Assert.Throws<IpcProtocolException>(() => reader.TryRead(out _));
    }

    [Fact]
    public void A_header_tagged_for_another_lap_is_a_protocol_error()
    {
        (RingWriter writer, RingReader reader) = Create();
        Assert.True(writer.TryWrite([1, 2, 3]));
        *((uint*)_memory + 1) = 7; // the tag
        Assert.Throws<IpcProtocolException>(() => reader.TryRead(out _));
    }

    [Fact]
    public void A_producer_and_consumer_on_two_threads_pass_checksummed_messages_exactly_once_in_order()
    {
        (RingWriter writer, RingReader reader) = Create();
        const int count = 200_000;
        var producer = new Thread(() =>
        {
            var random = new Random(5);
            Span<byte> buffer = stackalloc byte[600];
            for (int i = 0; i < count; i++)
            {
                int length = 8 + random.Next(0, 500);
                random.NextBytes(buffer[8..length]);
                BitConverter.TryWriteBytes(buffer, i);
                BitConverter.TryWriteBytes(buffer[4..], Checksum(buffer[8..length]));
                while (!writer.TryWrite(buffer[..length]))
                {
                    Thread.SpinWait(1);
                }
            }
        });
        producer.Start();
        int expected = 0;
        long deadline = Environment.TickCount64 + 60_000;
        while (expected < count && Environment.TickCount64 < deadline)
        {
            if (!reader.TryRead(out ReadOnlySpan<byte> message))
            {
                Thread.SpinWait(1);
                continue;
            }

            Assert.Equal(expected, BitConverter.ToInt32(message));
            Assert.Equal(BitConverter.ToUInt32(message[4..]), Checksum(message[8..]));
            expected++;
        }

        producer.Join();
        Assert.Equal(count, expected);
        Assert.False(reader.TryRead(out _));
    }

    private static uint Checksum(ReadOnlySpan<byte> bytes)
    {
        uint hash = 2166136261;
        foreach (byte b in bytes)
        {
            hash = (hash ^ b) * 16777619;
        }

        return hash;
    }
}
