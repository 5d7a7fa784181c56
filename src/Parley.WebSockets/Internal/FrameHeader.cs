using System.Buffers.Binary;

namespace Parley.WebSockets.Internal;

/// <summary>Writes WebSocket frame headers (RFC 6455, section 5.2): FIN and opcode, the shortest
/// length form, and room for a client's masking key (filled by the caller).</summary>
internal static class FrameHeader
{
    public const int MaxLength = 14;

    public static int Length(int payloadLength, bool masked) =>
        (payloadLength < 126 ? 2 : payloadLength <= ushort.MaxValue ? 4 : 10) + (masked ? 4 : 0);

    /// <summary>Writes the header; returns its length (the payload starts there). A masked
    /// header's last 4 bytes are the key, left for the caller to fill.</summary>
    public static int Write(Span<byte> destination, byte finAndOpcode, int payloadLength, bool masked)
    {
        byte mask = masked ? (byte)0x80 : (byte)0;
        destination[0] = finAndOpcode;
        int length;
        if (payloadLength < 126)
        {
            destination[1] = (byte)(mask | payloadLength);
            length = 2;
        }
        else if (payloadLength <= ushort.MaxValue)
        {
            destination[1] = (byte)(mask | 126);
            BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)payloadLength);
            length = 4;
        }
        else
        {
            destination[1] = (byte)(mask | 127);
            BinaryPrimitives.WriteUInt64BigEndian(destination[2..], (ulong)payloadLength);
            length = 10;
        }

        return masked ? length + 4 : length;
    }
}
