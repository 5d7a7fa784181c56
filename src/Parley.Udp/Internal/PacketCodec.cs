using System.Buffers.Binary;

namespace Parley.Udp;

/// <summary>The fixed part of every datagram.</summary>
/// <param name="Type">What the datagram is.</param>
/// <param name="SessionId">The session (0 before <see cref="PacketType.Accept"/>); survives the peer changing port.</param>
/// <param name="PacketNumber">Increases by one per packet sent in a session; what acknowledgements name.</param>
internal readonly record struct PacketHeader(PacketType Type, uint SessionId, uint PacketNumber);

/// <summary>
/// Reads and writes datagrams: <c>u8 version·type · u8 flags · u32 session · u32 packet number ·
/// payload · u32 CRC32C</c> (little-endian; the checksum covers every byte before it). In a
/// session's Data and Probe packets the payload is sealed (<see cref="PacketProtection"/>): the
/// frames encrypted, then a 16-byte tag. The checksum stays on every packet, outside the seal, so
/// a datagram damaged on the way is told apart (<see cref="DropReason.BadChecksum"/>) from one
/// forged with a valid checksum (<see cref="DropReason.AuthenticationFailed"/>). Reading never
/// throws: whatever arrives either parses or is dropped with a <see cref="DropReason"/>.
/// </summary>
internal static class PacketCodec
{
    /// <summary>
    /// The full packet number whose low 32 bits are <paramref name="truncated"/> and that lies
    /// nearest <paramref name="expected"/> (RFC 9000 appendix A.3, with a 32-bit field). Packet
    /// numbers are 64-bit inside a session and only their low 32 bits travel, so a session never
    /// runs out of them; every number in flight or acknowledged is within 2^31 of the expected one.
    /// </summary>
    public static long ExpandPacketNumber(uint truncated, long expected)
    {
        const long Window = 1L << 32;
        const long Half = Window / 2;
        long candidate = (expected & ~(Window - 1)) | truncated;
        if (candidate <= expected - Half && candidate < long.MaxValue - Window)
        {
            return candidate + Window;
        }

        if (candidate > expected + Half && candidate >= Window)
        {
            return candidate - Window;
        }

        return candidate;
    }

    public const byte Version = 3; // 2: message runs, Delivered as id runs; 3: ECDH handshake, sealed session packets, path validation
    public const int HeaderSize = 10;
    public const int ChecksumSize = 4;
    public const int Overhead = HeaderSize + ChecksumSize;

    /// <summary>A session packet's bytes around its frames: header, tag and checksum.</summary>
    public const int SessionOverhead = HeaderSize + PacketProtection.TagSize + ChecksumSize;

    /// <summary>Writes a whole datagram into <paramref name="destination"/>; returns its length.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too small.</exception>
    public static int Write(Span<byte> destination, PacketHeader header, ReadOnlySpan<byte> payload, byte flags = 0)
    {
        int length = Overhead + payload.Length;
        if (destination.Length < length)
        {
            throw new ArgumentException($"A {length}-byte packet does not fit in {destination.Length} bytes.", nameof(destination));
        }

        destination[0] = (byte)((Version << 4) | (byte)header.Type);
        destination[1] = flags;
        BinaryPrimitives.WriteUInt32LittleEndian(destination[2..], header.SessionId);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[6..], header.PacketNumber);
        payload.CopyTo(destination[HeaderSize..]);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[(HeaderSize + payload.Length)..], Crc32C.Compute(destination[..(HeaderSize + payload.Length)]));
        return length;
    }

    /// <summary>Writes the <see cref="HeaderSize"/> bytes of a header.</summary>
    public static void WriteHeader(Span<byte> packet, PacketHeader header, byte flags = 0)
    {
        packet[0] = (byte)((Version << 4) | (byte)header.Type);
        packet[1] = flags;
        BinaryPrimitives.WriteUInt32LittleEndian(packet[2..], header.SessionId);
        BinaryPrimitives.WriteUInt32LittleEndian(packet[6..], header.PacketNumber);
    }

    /// <summary>Completes a datagram whose payload was written in place after the header; returns its length.</summary>
    public static int Seal(Span<byte> packet, PacketHeader header, int payloadLength, byte flags = 0)
    {
        WriteHeader(packet, header, flags);
        int end = HeaderSize + payloadLength;
        BinaryPrimitives.WriteUInt32LittleEndian(packet[end..], Crc32C.Compute(packet[..end]));
        return end + ChecksumSize;
    }

    /// <summary>
    /// Completes a session packet whose frames were written in place after the header: writes the
    /// header, seals the frames with <paramref name="protection"/> under <paramref name="packetNumber"/>
    /// (whose low 32 bits the header carries), appends the checksum; returns the datagram's length.
    /// </summary>
    public static int SealSession(Span<byte> packet, PacketType type, uint sessionId, long packetNumber, int payloadLength, PacketProtection protection)
    {
        WriteHeader(packet, new PacketHeader(type, sessionId, (uint)packetNumber));
        protection.Seal(packet, payloadLength, packetNumber);
        int end = HeaderSize + payloadLength + PacketProtection.TagSize;
        BinaryPrimitives.WriteUInt32LittleEndian(packet[end..], Crc32C.Compute(packet[..end]));
        return end + ChecksumSize;
    }

    /// <summary>Checks and splits a received datagram. False, with the reason, for anything that is not a valid packet.</summary>
    public static bool TryRead(ReadOnlySpan<byte> datagram, int maxPacketSize, out PacketHeader header, out ReadOnlySpan<byte> payload, out byte flags, out DropReason reason)
    {
        header = default;
        payload = default;
        flags = 0;
        if (datagram.Length < Overhead)
        {
            reason = DropReason.TooShort;
            return false;
        }

        if (datagram.Length > maxPacketSize)
        {
            reason = DropReason.TooLong;
            return false;
        }

        if (datagram[0] >> 4 != Version)
        {
            reason = DropReason.UnknownVersion;
            return false;
        }

        var type = (PacketType)(datagram[0] & 0x0F);
        if (type is < PacketType.Hello or > PacketType.Probe)
        {
            reason = DropReason.UnknownType;
            return false;
        }

        int checksumAt = datagram.Length - ChecksumSize;
        if (BinaryPrimitives.ReadUInt32LittleEndian(datagram[checksumAt..]) != Crc32C.Compute(datagram[..checksumAt]))
        {
            reason = DropReason.BadChecksum;
            return false;
        }

        flags = datagram[1];
        header = new PacketHeader(type, BinaryPrimitives.ReadUInt32LittleEndian(datagram[2..]), BinaryPrimitives.ReadUInt32LittleEndian(datagram[6..]));
        payload = datagram[HeaderSize..checksumAt];
        reason = DropReason.None;
        return true;
    }
}
