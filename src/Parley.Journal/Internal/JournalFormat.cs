using System.Buffers.Binary;

namespace Parley.Journal;

/// <summary>
/// The on-disk format (docs/wire-formats.md, "Journal"). A segment file starts with a 32-byte
/// header — the magic <c>PRLYJRN2</c>, the id of its first record (u64 LE), the id the journal
/// had reached before it (u64 LE: normally first id − 1; less after recovery skipped ids), and
/// a CRC32C of those 24 bytes (u32 LE, then 4 zero bytes). Segments written before version 2
/// start with a 16-byte header, <c>PRLYJRN1</c> and the first id, unchecked; they are still read.
/// Records follow, each:
/// <code>
/// u32 LE  body length (16 + payload length)
/// u32 LE  CRC32C of the length field and the body
/// u64 LE  id
/// i64 LE  timestamp, microseconds since the Unix epoch
/// …       payload
/// </code>
/// Ids are the truth: a record's id is under its checksum, so a damaged header never renumbers
/// records, and a reader that loses its place finds the next record by its checksum.
/// </summary>
internal static class JournalFormat
{
    public const int SegmentHeaderSize = 32;
    public const int SegmentHeaderSizeV1 = 16;
    public const int RecordHeaderSize = 8;
    public const int BodyHeaderSize = 16;
    public const int RecordOverhead = RecordHeaderSize + BodyHeaderSize;
    public const string SegmentExtension = ".seg";

    /// <summary>The largest id a journal uses (2^62): ids past it are damage, and arithmetic on ids never overflows.</summary>
    public const long MaxId = 1L << 62;

    public static ReadOnlySpan<byte> Magic => "PRLYJRN2"u8;

    public static ReadOnlySpan<byte> MagicV1 => "PRLYJRN1"u8;

    public static string SegmentFileName(long firstId) => $"{firstId:D20}{SegmentExtension}";

    /// <summary>The first id a segment's file name gives, or 0 when the name is not one the journal writes.</summary>
    public static long FirstIdFromName(string path)
    {
        string name = Path.GetFileNameWithoutExtension(path);
        return name.Length == 20 && long.TryParse(name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long id) && id > 0 ? id : 0;
    }

    public static void WriteSegmentHeader(Span<byte> destination, long firstId, long previousId)
    {
        Magic.CopyTo(destination);
        BinaryPrimitives.WriteInt64LittleEndian(destination[8..], firstId);
        BinaryPrimitives.WriteInt64LittleEndian(destination[16..], previousId);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[24..], Crc32C(destination[..24]));
        BinaryPrimitives.WriteUInt32LittleEndian(destination[28..], 0);
    }

    /// <summary>What a segment's first bytes say.</summary>
    public enum HeaderStatus
    {
        /// <summary>A version 2 header whose checksum holds.</summary>
        Ok,

        /// <summary>A version 1 header (no checksum; its first id is a hint only).</summary>
        Version1,

        /// <summary>Fewer bytes than a header.</summary>
        Incomplete,

        /// <summary>A header that fails its checksum, or no journal magic at all.</summary>
        Damaged,
    }

    public static HeaderStatus ReadSegmentHeader(ReadOnlySpan<byte> source, out long firstId, out long previousId, out int headerSize)
    {
        firstId = previousId = 0;
        headerSize = 0;
        if (source.Length >= SegmentHeaderSizeV1 && source[..8].SequenceEqual(MagicV1))
        {
            firstId = BinaryPrimitives.ReadInt64LittleEndian(source[8..]);
            previousId = firstId - 1;
            headerSize = SegmentHeaderSizeV1;
            return firstId is > 0 and <= MaxId ? HeaderStatus.Version1 : HeaderStatus.Damaged;
        }

        if (source.Length < SegmentHeaderSize)
        {
            return source.Length < 8 || source[..8].SequenceEqual(Magic) || source[..8].SequenceEqual(MagicV1) ? HeaderStatus.Incomplete : HeaderStatus.Damaged;
        }

        if (!source[..8].SequenceEqual(Magic) || BinaryPrimitives.ReadUInt32LittleEndian(source[24..]) != Crc32C(source[..24]))
        {
            return HeaderStatus.Damaged;
        }

        firstId = BinaryPrimitives.ReadInt64LittleEndian(source[8..]);
        previousId = BinaryPrimitives.ReadInt64LittleEndian(source[16..]);
        headerSize = SegmentHeaderSize;
        return firstId is > 0 and <= MaxId && previousId >= 0 && previousId < firstId ? HeaderStatus.Ok : HeaderStatus.Damaged;
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
