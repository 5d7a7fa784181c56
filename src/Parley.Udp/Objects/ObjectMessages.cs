using System.Buffers.Binary;
using System.Text;

namespace Parley.Udp.Objects;

/// <summary>
/// The large-object messages (reliable unordered, on the transfer channel), little-endian:
/// <c>1 Offer: u32 transfer · u64 length · u32 block size · u16 name length · name (UTF-8)</c>;
/// <c>2 Status: u32 transfer · u8 accepted · bitmap of blocks already held (resume)</c>;
/// <c>3 Block: u32 transfer · u64 offset · data</c>;
/// <c>4 Written: u32 transfer · u32 blocks written so far</c> (bounds the receiver's write queue);
/// <c>5 Done: u32 transfer</c> (every block is on disk).
/// </summary>
internal static class ObjectMessages
{
    public const byte Offer = 1, Status = 2, Block = 3, Written = 4, Done = 5;
    public const int BlockHeaderSize = 1 + 4 + 8;

    public static byte[] EncodeOffer(uint transfer, long length, int blockSize, string name)
    {
        byte[] nameBytes = Encoding.UTF8.GetBytes(name);
        byte[] message = new byte[1 + 4 + 8 + 4 + 2 + nameBytes.Length];
        message[0] = Offer;
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(1), transfer);
        BinaryPrimitives.WriteInt64LittleEndian(message.AsSpan(5), length);
        BinaryPrimitives.WriteInt32LittleEndian(message.AsSpan(13), blockSize);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(17), (ushort)nameBytes.Length);
        nameBytes.CopyTo(message, 19);
        return message;
    }

    public static bool TryDecodeOffer(ReadOnlySpan<byte> m, out uint transfer, out long length, out int blockSize, out string name)
    {
        transfer = 0;
        length = 0;
        blockSize = 0;
        name = "";
        if (m.Length < 19 || m[0] != Offer)
        {
            return false;
        }

        transfer = BinaryPrimitives.ReadUInt32LittleEndian(m[1..]);
        length = BinaryPrimitives.ReadInt64LittleEndian(m[5..]);
        blockSize = BinaryPrimitives.ReadInt32LittleEndian(m[13..]);
        int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(m[17..]);
        if (m.Length != 19 + nameLength || length < 0 || blockSize <= 0)
        {
            return false;
        }

        name = Encoding.UTF8.GetString(m.Slice(19, nameLength));
        return true;
    }

    public static byte[] EncodeStatus(uint transfer, bool accepted, ReadOnlySpan<byte> bitmap)
    {
        byte[] message = new byte[1 + 4 + 1 + bitmap.Length];
        message[0] = Status;
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(1), transfer);
        message[5] = accepted ? (byte)1 : (byte)0;
        bitmap.CopyTo(message.AsSpan(6));
        return message;
    }

    public static byte[] EncodeCount(byte kind, uint transfer, uint count)
    {
        byte[] message = new byte[kind == Done ? 5 : 9];
        message[0] = kind;
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(1), transfer);
        if (kind != Done)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(5), count);
        }

        return message;
    }

    public static int BlockCount(long length, int blockSize) => (int)((length + blockSize - 1) / blockSize);

    public static bool Has(ReadOnlySpan<byte> bitmap, int block) => block / 8 < bitmap.Length && (bitmap[block / 8] & (1 << (block % 8))) != 0;

    public static void Set(Span<byte> bitmap, int block) => bitmap[block / 8] |= (byte)(1 << (block % 8));
}
