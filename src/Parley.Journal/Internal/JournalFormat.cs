using System.Buffers.Binary;

namespace Parley.Journal;

/// <summary>
/// The on-disk format (docs/wire-formats.md, "Journal"). A segment file starts with a 16-byte
/// header — the magic <c>PRLYJRN1</c> and the id of its first record (u64 LE) — followed by
/// records, each:
/// <code>
/// u32 LE  body length (16 + payload length)
/// u32 LE  CRC32C of the length field and the body
/// u64 LE  id
/// i64 LE  timestamp, microseconds since the Unix epoch
/// …       payload
/// </code>
/// </summary>
internal static class JournalFormat
{
    public const int SegmentHeaderSize = 16;
    public const int RecordHeaderSize = 8;
    public const int BodyHeaderSize = 16;
    public const int RecordOverhead = RecordHeaderSize + BodyHeaderSize;
    public const string SegmentExtension = ".seg";

    public static ReadOnlySpan<byte> Magic => "PRLYJRN1"u8;

    public static string SegmentFileName(long firstId) => $"{firstId:D20}{SegmentExtension}";

    public static void WriteSegmentHeader(Span<byte> destination, long firstId)
    {
        Magic.CopyTo(destination);
        BinaryPrimitives.WriteInt64LittleEndian(destination[8..], firstId);
    }

    public static bool TryReadSegmentHeader(ReadOnlySpan<byte> source, out long firstId)
    {
        firstId = 0;
        if (source.Length < SegmentHeaderSize || !source[..8].SequenceEqual(Magic))
        {
            return false;
        }

        firstId = BinaryPrimitives.ReadInt64LittleEndian(source[8..]);
        return firstId > 0;
    }

    /// <summary>Writes one whole record; <paramref name="destination"/> holds at least RecordOverhead + payload bytes.</summary>
    public static int WriteRecord(Span<byte> destination, long id, long timestampMicros, ReadOnlySpan<byte> payload)
    {
        int bodyLength = BodyHeaderSize + payload.Length;
        BinaryPrimitives.WriteUInt32LittleEndian(destination, (uint)bodyLength);
        Span<byte> body = destination.Slice(RecordHeaderSize, bodyLength);
        BinaryPrimitives.WriteInt64LittleEndian(body, id);
        BinaryPrimitives.WriteInt64LittleEndian(body[8..], timestampMicros);
        payload.CopyTo(body[BodyHeaderSize..]);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], Checksum(destination[..4], body));
        return RecordHeaderSize + bodyLength;
    }

    /// <summary>The outcome of reading one record at the start of a span.</summary>
    public enum ReadStatus
    {
        Ok,
        Incomplete,
        Corrupt,
    }

    /// <summary>Reads the record at the start of <paramref name="source"/> (which may hold more after it).</summary>
    public static ReadStatus TryReadRecord(ReadOnlySpan<byte> source, int maxPayload, out long id, out long timestampMicros, out int payloadOffset, out int payloadLength, out int recordLength)
    {
        id = timestampMicros = 0;
        payloadOffset = payloadLength = recordLength = 0;
        if (source.Length < RecordHeaderSize)
        {
            return ReadStatus.Incomplete;
        }

        uint bodyLength = BinaryPrimitives.ReadUInt32LittleEndian(source);
        if (bodyLength < BodyHeaderSize || bodyLength > (uint)maxPayload + BodyHeaderSize)
        {
            return ReadStatus.Corrupt;
        }

        if (source.Length - RecordHeaderSize < bodyLength)
        {
            return ReadStatus.Incomplete;
        }

        ReadOnlySpan<byte> body = source.Slice(RecordHeaderSize, (int)bodyLength);
        if (BinaryPrimitives.ReadUInt32LittleEndian(source[4..]) != Checksum(source[..4], body))
        {
            return ReadStatus.Corrupt;
        }

        id = BinaryPrimitives.ReadInt64LittleEndian(body);
        timestampMicros = BinaryPrimitives.ReadInt64LittleEndian(body[8..]);
        payloadOffset = RecordHeaderSize + BodyHeaderSize;
        payloadLength = (int)bodyLength - BodyHeaderSize;
        recordLength = RecordHeaderSize + (int)bodyLength;
        return ReadStatus.Ok;
    }

    /// <summary>CRC32C of <paramref name="first"/> then <paramref name="second"/> (<see cref="Parley.Crc32C"/>).</summary>
    public static uint Checksum(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second) => Parley.Crc32C.Compute(first, second);

    /// <summary>CRC32C of one span.</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data) => Parley.Crc32C.Compute(data);

    public static long ToMicros(DateTimeOffset time) => (time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10;

    public static DateTimeOffset FromMicros(long micros) => new(DateTimeOffset.UnixEpoch.UtcTicks + (micros * 10), TimeSpan.Zero);
}
