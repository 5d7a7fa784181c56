using System.Buffers.Binary;

namespace Parley.Journal;

/// <summary>
/// The journal's <c>HIGHWATER</c> file: what the segment files alone cannot prove after they are
/// damaged or lost. It holds the highest id the journal may have handed out (ids are reserved
/// in blocks, so the file is written once per <see cref="ReserveBlock"/> records, not per
/// batch), and the first ids of the oldest and the newest segment (so a lost first, middle or
/// last segment is noticed), and — written when the journal closes cleanly — the last id
/// written then: while it is 0 the journal is open or crashed, and the next open cannot trust
/// that the newest segment ends where the acknowledged records end (with durability None a
/// crash loses acknowledged records at a clean record boundary), so new ids start past the
/// reservation. 48 bytes: the magic <c>PRLYHWM1</c>, four u64 LE, a CRC32C of the 40 bytes
/// before it, and 4 zero bytes. Replaced atomically (a new file, fsync, rename, fsync of the
/// folder).
/// </summary>
internal readonly record struct HighWaterMark(long ReservedThrough, long FirstSegmentId, long LastSegmentId, long CleanThrough = 0)
{
    public const string FileName = "HIGHWATER";

    /// <summary>Ids reserved at a time: the most a recovery that lost the newest records skips.</summary>
    public const long ReserveBlock = 1 << 20;

    private const int Size = 48;

    private static ReadOnlySpan<byte> Magic => "PRLYHWM1"u8;

    public static string PathOf(string directory) => Path.Combine(directory, FileName);

    /// <summary>What reading the file found.</summary>
    public enum ReadStatus
    {
        Ok,
        Missing,
        Damaged,
    }

    public static ReadStatus TryRead(string directory, out HighWaterMark mark)
    {
        mark = default;
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(PathOf(directory));
        }
        catch (FileNotFoundException)
        {
            return ReadStatus.Missing;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return ReadStatus.Damaged; // not a readable file (a folder, no permission): as good as damaged
        }

        if (bytes.Length != Size || !bytes.AsSpan(0, 8).SequenceEqual(Magic)
            || BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(40)) != Parley.Crc32C.Compute(bytes.AsSpan(0, 40)))
        {
            return ReadStatus.Damaged;
        }

        mark = new HighWaterMark(
            BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(8)),
            BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(16)),
            BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(24)),
            BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(32)));
        return mark.ReservedThrough is >= 0 and <= JournalFormat.MaxId && mark.FirstSegmentId >= 0 && mark.LastSegmentId >= mark.FirstSegmentId
            && mark.CleanThrough >= 0 && mark.CleanThrough <= mark.ReservedThrough ? ReadStatus.Ok : ReadStatus.Damaged;
    }

    /// <summary>Replaces the file: it is on disk, under its name, when this returns.</summary>
    public void Write(string directory)
    {
        Span<byte> bytes = stackalloc byte[Size];
        Magic.CopyTo(bytes);
        BinaryPrimitives.WriteInt64LittleEndian(bytes[8..], ReservedThrough);
        BinaryPrimitives.WriteInt64LittleEndian(bytes[16..], FirstSegmentId);
        BinaryPrimitives.WriteInt64LittleEndian(bytes[24..], LastSegmentId);
        BinaryPrimitives.WriteInt64LittleEndian(bytes[32..], CleanThrough);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes[40..], Parley.Crc32C.Compute(bytes[..40]));
        BinaryPrimitives.WriteUInt32LittleEndian(bytes[44..], 0);
        string path = PathOf(directory);
        string temporary = path + ".tmp";
        using (var file = new FileStream(temporary, JournalFiles.Options(FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0)))
        {
            file.Write(bytes);
            file.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
        DirectorySync.Sync(directory);
    }
}
