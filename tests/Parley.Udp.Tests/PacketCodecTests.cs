namespace Parley.Udp.Tests;

public class PacketCodecTests
{
    private const int Max = 1200;

    [Fact]
    public void A_packet_round_trips_its_type_session_number_flags_and_payload()
    {
        byte[] datagram = new byte[Max];
        byte[] payload = [1, 2, 3, 4, 5];
        int length = PacketCodec.Write(datagram, new PacketHeader(PacketType.Data, 0xDEADBEEF, 42), payload, flags: 0x80);
        Assert.Equal(PacketCodec.Overhead + payload.Length, length);
        Assert.True(PacketCodec.TryRead(datagram.AsSpan(0, length), Max, out PacketHeader header, out ReadOnlySpan<byte> read, out byte flags, out DropReason reason));
        Assert.Equal(DropReason.None, reason);
        Assert.Equal(new PacketHeader(PacketType.Data, 0xDEADBEEF, 42), header);
        Assert.Equal(0x80, flags);
        Assert.Equal(payload, read.ToArray());
    }

    [Fact]
    public void Every_single_bit_flip_is_caught_by_the_checksum_or_the_header_checks()
    {
        byte[] datagram = new byte[Max];
        int length = PacketCodec.Write(datagram, new PacketHeader(PacketType.Data, 7, 9), [10, 20, 30, 40]);
        for (int bit = 0; bit < length * 8; bit++)
        {
            byte[] copy = datagram[..length];
            copy[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.False(PacketCodec.TryRead(copy, Max, out _, out _, out _, out DropReason reason), $"bit {bit}");
            Assert.NotEqual(DropReason.None, reason);
        }
    }

    [Fact]
    public void Datagrams_of_every_length_from_0_to_past_the_maximum_are_dropped_with_a_reason_never_thrown()
    {
        var random = new Random(12345);
        var reasons = new Dictionary<DropReason, int>();
        for (int length = 0; length <= Max + 1; length++)
        {
            byte[] garbage = new byte[length];
            random.NextBytes(garbage);
            if (length > 0)
            {
                garbage[0] = (byte)((PacketCodec.Version << 4) | random.Next(0, 16)); // get past the version check half the time
            }

            bool valid = PacketCodec.TryRead(garbage, Max, out _, out _, out _, out DropReason reason);
            Assert.False(valid, $"random bytes of length {length} passed as a packet");
            reasons[reason] = reasons.GetValueOrDefault(reason) + 1;
        }

        Assert.Equal(PacketCodec.Overhead, reasons[DropReason.TooShort]);
        Assert.Equal(1, reasons[DropReason.TooLong]);
        Assert.True(reasons[DropReason.BadChecksum] > 0);
        Assert.True(reasons[DropReason.UnknownType] > 0);
    }

    [Fact]
    public void Another_version_and_undefined_types_are_refused_even_with_a_correct_checksum()
    {
        byte[] datagram = new byte[Max];
        int length = PacketCodec.Write(datagram, new PacketHeader(PacketType.Hello, 0, 0), []);
        datagram[0] = (byte)(((PacketCodec.Version + 1) << 4) | (byte)PacketType.Hello);
        Rechecksum(datagram, length);
        Assert.False(PacketCodec.TryRead(datagram.AsSpan(0, length), Max, out _, out _, out _, out DropReason version));
        Assert.Equal(DropReason.UnknownVersion, version);

        datagram[0] = (byte)((PacketCodec.Version << 4) | 0x0F);
        Rechecksum(datagram, length);
        Assert.False(PacketCodec.TryRead(datagram.AsSpan(0, length), Max, out _, out _, out _, out DropReason type));
        Assert.Equal(DropReason.UnknownType, type);
    }

    [Fact]
    public void Writing_into_too_small_a_buffer_is_an_argument_error()
    {
        Assert.Throws<ArgumentException>(() => PacketCodec.Write(new byte[PacketCodec.Overhead], new PacketHeader(PacketType.Data, 1, 1), [1]));
    }

    private static void Rechecksum(byte[] datagram, int length) =>
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(datagram.AsSpan(length - 4), Crc32C.Compute(datagram.AsSpan(0, length - 4)));
}
