using System.Buffers.Binary;
using System.Text;

namespace Parley.Journal.Tests;

/// <summary><see cref="Journal.Read"/> over damage the open accepts or reads past, version-1 segments, and the read window's edges.</summary>
public class JournalReadDamageTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static JournalOptions Options(string directory, long segmentBytes = 16 * 1024, bool acceptDamage = false) => new()
    {
        Directory = directory,
        Durability = JournalDurability.None,
        SegmentBytes = segmentBytes,
        MaxTotalBytes = 64L * 1024 * 1024,
        MaxRecordBytes = 1024 * 1024,
        AcceptDamage = acceptDamage,
    };

    private static byte[] Payload(long id) => Encoding.UTF8.GetBytes($"record {id} " + new string('x', (int)(id % 50)));

    private static List<long> ReadIds(Journal journal, IEnumerable<long> ids)
    {
        var found = new List<long>();
        journal.Read([.. ids], (in JournalRecord r) =>
        {
            Assert.Equal(Payload(r.Id), r.Payload.ToArray());
            found.Add(r.Id);
        });
        return found;
    }

    private static async Task CreateAsync(string directory, int count)
    {
        await using Journal journal = Journal.Open(Options(directory));
        for (int i = 1; i <= count; i++)
        {
            await journal.AppendAsync(Payload(i)).WaitAsync(Timeout);
        }
    }

    [Fact]
    public async Task Records_of_a_segment_whose_header_is_damaged_are_read_as_open_replayed_them()
    {
        using var dir = new TempDirectory();
        await CreateAsync(dir.Path, 1000);
        string[] segments = [.. Directory.GetFiles(dir.Path, "*.seg").Order(StringComparer.Ordinal)];
        Assert.True(segments.Length >= 3);

        // One flipped bit in the first segment's header (its first-id field): the header fails its
        // checksum. The open reads the records by their own checksums (not even data loss: no
        // AcceptDamage needed) and replays them.
        byte[] bytes = File.ReadAllBytes(segments[0]);
        bytes[9] ^= 0x01;
        File.WriteAllBytes(segments[0], bytes);

        var replayed = new List<long>();
        await using Journal journal = Journal.Open(Options(dir.Path), (in JournalRecord r) => replayed.Add(r.Id));
        Assert.Equal(Enumerable.Range(1, 1000).Select(i => (long)i), replayed);

        // Every record Open replayed (and so every id the chat server's rooms hold) must be readable.
        List<long> some = [1, 2, 50, 100];
        Assert.Equal(some, ReadIds(journal, some));
    }

    [Fact]
    public async Task A_duplicate_record_is_stepped_over_whole_not_searched_byte_by_byte()
    {
        // A segment holding records 1..3, then a copy of record 2 (a duplicate, as a crash or a copy
        // can leave; the open's scan skips it as a whole record), then 4 and 5. The duplicate's
        // payload holds the bytes of a valid record numbered 5 (a user's message can hold any bytes).
        using var dir = new TempDirectory();
        await CreateAsync(dir.Path, 3);
        string segment = Directory.GetFiles(dir.Path, "*.seg").Single();
        byte[] forgedPayload = Encoding.UTF8.GetBytes("forged by a user");
        byte[] forged = new byte[24 + forgedPayload.Length];
        WriteRecord(forged, 5, forgedPayload);

        byte[] dupPayload = [.. Encoding.UTF8.GetBytes("dup "), .. forged];
        byte[] dup = new byte[24 + dupPayload.Length];
        WriteRecord(dup, 2, dupPayload);
        using (var file = new FileStream(segment, FileMode.Append))
        {
            file.Write(dup);
            foreach (long id in new long[] { 4, 5 })
            {
                byte[] record = new byte[24 + Payload(id).Length];
                WriteRecord(record, id, Payload(id));
                file.Write(record);
            }
        }

        var replayed = new List<long>();
        await using Journal journal = Journal.Open(Options(dir.Path, acceptDamage: true), (in JournalRecord r) =>
        {
            Assert.Equal(Payload(r.Id), r.Payload.ToArray());
            replayed.Add(r.Id);
        });
        Assert.Equal([1L, 2L, 3L, 4L, 5L], replayed);
        Assert.Equal([5L], ReadIds(journal, [5])); // ReadIds checks the payload: record 5's, not the bytes in the duplicate
        Assert.Equal([1L, 2L, 3L, 4L, 5L], ReadIds(journal, [1, 2, 3, 4, 5]));
    }

    [Fact]
    public async Task A_version_1_segment_is_read_and_so_is_what_is_appended_to_it()
    {
        using var dir = new TempDirectory();
        byte[] file = new byte[16 + (10 * 200)];
        "PRLYJRN1"u8.CopyTo(file);
        BinaryPrimitives.WriteInt64LittleEndian(file.AsSpan(8), 1);
        int length = 16;
        for (int i = 1; i <= 10; i++)
        {
            byte[] record = new byte[24 + Payload(i).Length];
            WriteRecord(record, i, Payload(i));
            record.CopyTo(file, length);
            length += record.Length;
        }

        File.WriteAllBytes(Path.Combine(dir.Path, $"{1:D20}.seg"), file[..length]);
        await using Journal journal = Journal.Open(Options(dir.Path, segmentBytes: 1024 * 1024));
        Assert.Equal([1L, 5L, 10L], ReadIds(journal, [1, 5, 10]));
        for (int i = 11; i <= 20; i++)
        {
            await journal.AppendAsync(Payload(i)).WaitAsync(Timeout);
        }

        Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), ReadIds(journal, Enumerable.Range(1, 20).Select(i => (long)i)));
    }

    [Fact]
    public async Task Records_crossing_the_read_window_are_read_one_by_one_and_all_at_once()
    {
        using var dir = new TempDirectory();
        static byte[] Mid(long id) => Encoding.UTF8.GetBytes(new string((char)('a' + (id % 26)), 3000 + (int)(id * 37 % 5000)));
        await using Journal journal = Journal.Open(Options(dir.Path, segmentBytes: 4L * 1024 * 1024));
        for (int i = 1; i <= 600; i++)
        {
            await journal.AppendAsync(Mid(i)).WaitAsync(Timeout);
        }

        var all = Enumerable.Range(1, 600).Select(i => (long)i).ToList();
        var found = new List<long>();
        journal.Read([.. all], (in JournalRecord r) => { Assert.Equal(Mid(r.Id), r.Payload.ToArray()); found.Add(r.Id); });
        Assert.Equal(all, found);
        foreach (long id in all.Where(i => i % 7 == 0).Reverse())
        {
            int n = journal.Read([id], (in JournalRecord r) => Assert.Equal(Mid(r.Id), r.Payload.ToArray()));
            Assert.Equal(1, n);
        }
    }

    [Fact]
    public async Task A_damaged_record_is_stepped_over_by_its_length_not_searched_inside()
    {
        // Record 4's payload (a user's message) holds the bytes of a valid record numbered 6; a bit of
        // record 4 then rots. The open's scan trusts the damaged record's length, never looks inside
        // its payload, and replays 1, 2, 3, 5, 6. The index must find the same records.
        using var dir = new TempDirectory();
        byte[] forgedPayload = Encoding.UTF8.GetBytes("forged by a user");
        byte[] forged = new byte[24 + forgedPayload.Length];
        WriteRecord(forged, 6, forgedPayload);
        byte[] hostile = [.. Encoding.UTF8.GetBytes("hello "), .. forged];
        await using (Journal journal = Journal.Open(Options(dir.Path, segmentBytes: 1024 * 1024)))
        {
            for (int i = 1; i <= 6; i++)
            {
                await journal.AppendAsync(i == 4 ? hostile : Payload(i)).WaitAsync(Timeout);
            }
        }

        string segment = Directory.GetFiles(dir.Path, "*.seg").Single();
        byte[] bytes = File.ReadAllBytes(segment);
        long offset = 32 + (24 + Payload(1).Length) + (24 + Payload(2).Length) + (24 + Payload(3).Length);
        bytes[offset + 24 + 1] ^= 0x01; // "hello" -> "hdllo": record 4 fails its checksum
        File.WriteAllBytes(segment, bytes);

        var replayed = new List<long>();
        await using Journal reopened = Journal.Open(Options(dir.Path, segmentBytes: 1024 * 1024, acceptDamage: true), (in JournalRecord r) => replayed.Add(r.Id));
        Assert.Equal([1L, 2L, 3L, 5L, 6L], replayed);
        Assert.Equal([6L], ReadIds(reopened, [6])); // checks the payload: record 6's, not the forged one
        Assert.Equal([5L], ReadIds(reopened, [5]));
    }

    private static void WriteRecord(Span<byte> destination, long id, byte[] payload)
    {
        int bodyLength = 16 + payload.Length;
        BinaryPrimitives.WriteUInt32LittleEndian(destination, (uint)bodyLength);
        Span<byte> body = destination.Slice(8, bodyLength);
        BinaryPrimitives.WriteInt64LittleEndian(body, id);
        BinaryPrimitives.WriteInt64LittleEndian(body[8..], 1_700_000_000_000_000);
        payload.CopyTo(body[16..]);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], Parley.Crc32C.Compute(destination[..4], body));
    }
}
