using System.Text;

namespace Parley.Journal.Tests;

/// <summary><see cref="Journal.Read"/>: committed records by id while the journal appends.</summary>
public class JournalReadTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static JournalOptions Options(string directory, long segmentBytes = 64 * 1024, long maxTotalBytes = 64L * 1024 * 1024, bool acceptDamage = false) => new()
    {
        Directory = directory,
        Durability = JournalDurability.Batch,
        SegmentBytes = segmentBytes,
        MaxTotalBytes = maxTotalBytes,
        MaxRecordBytes = 1024 * 1024,
        AcceptDamage = acceptDamage,
    };

    private static byte[] Payload(long id) => Encoding.UTF8.GetBytes($"record {id} " + new string((char)('a' + (id % 26)), (int)(id % 300)));

    private static async Task<List<JournalEntry>> AppendAsync(Journal journal, int count, Func<long, byte[]>? payload = null)
    {
        var entries = new List<JournalEntry>();
        for (int i = 0; i < count; i++)
        {
            entries.Add(await journal.AppendAsync((payload ?? Payload)(journal.LastId + 1)).WaitAsync(Timeout));
        }

        return entries;
    }

    private static List<(long Id, DateTimeOffset Timestamp, byte[] Payload)> Read(Journal journal, params long[] ids)
    {
        var records = new List<(long, DateTimeOffset, byte[])>();
        int found = journal.Read(ids, (in JournalRecord r) => records.Add((r.Id, r.Timestamp, r.Payload.ToArray())));
        Assert.Equal(records.Count, found);
        return records;
    }

    [Fact]
    public async Task Records_are_read_by_id_across_segments_with_their_timestamps_and_payloads()
    {
        using var dir = new TempDirectory();
        await using Journal journal = Journal.Open(Options(dir.Path, segmentBytes: 16 * 1024));
        List<JournalEntry> entries = await AppendAsync(journal, 2000);
        Assert.True(journal.SegmentCount > 10);

        // Scattered, dense runs, the first and the last, across many segments.
        long[] ids = [1, 2, 3, 17, 500, 501, 502, 1023, 1024, 1500, 1999, 2000];
        List<(long Id, DateTimeOffset Timestamp, byte[] Payload)> records = Read(journal, ids);
        Assert.Equal(ids, records.Select(r => r.Id));
        foreach ((long id, DateTimeOffset timestamp, byte[] payload) in records)
        {
            Assert.Equal(Payload(id), payload);
            Assert.Equal(entries[(int)id - 1].Timestamp, timestamp);
        }

        // Every record, in one call.
        long[] all = [.. Enumerable.Range(1, 2000).Select(i => (long)i)];
        Assert.Equal(all, Read(journal, all).Select(r => r.Id));
        Assert.True(journal.ReadIndexBytes > 0);
    }

    [Fact]
    public async Task Ids_not_committed_or_never_handed_out_are_skipped()
    {
        using var dir = new TempDirectory();
        await using Journal journal = Journal.Open(Options(dir.Path));
        await AppendAsync(journal, 10);
        Assert.Equal([5L, 10L], Read(journal, -3, 0, 5, 10, 11, 1_000_000).Select(r => r.Id));
        Assert.Empty(Read(journal));
    }

    [Fact]
    public async Task Ids_must_be_ascending()
    {
        using var dir = new TempDirectory();
        await using Journal journal = Journal.Open(Options(dir.Path));
        await AppendAsync(journal, 3);
        Assert.Throws<ArgumentException>(() => journal.Read([2, 1], (in JournalRecord _) => { }));
        Assert.Throws<ArgumentException>(() => journal.Read([2, 2], (in JournalRecord _) => { }));
    }

    [Fact]
    public async Task The_segment_being_written_is_read_as_it_grows()
    {
        using var dir = new TempDirectory();
        await using Journal journal = Journal.Open(Options(dir.Path, segmentBytes: 1024 * 1024));
        await AppendAsync(journal, 5);
        Assert.Equal([5L], Read(journal, 5).Select(r => r.Id)); // indexes the segment up to record 5

        await AppendAsync(journal, 3000); // the same segment, grown well past the first index
        Assert.Equal(1, journal.SegmentCount);
        Assert.Equal([4L, 6L, 1500L, 3005L], Read(journal, 4, 6, 1500, 3005).Select(r => r.Id));
        Assert.Equal(Payload(3005), Read(journal, 3005)[0].Payload);
    }

    [Fact]
    public async Task Records_deleted_by_retention_are_skipped()
    {
        using var dir = new TempDirectory();
        await using Journal journal = Journal.Open(Options(dir.Path, segmentBytes: 8 * 1024, maxTotalBytes: 32 * 1024));
        await AppendAsync(journal, 50);
        Assert.Equal([1L, 50L], Read(journal, 1, 50).Select(r => r.Id)); // indexes the first segment

        await AppendAsync(journal, 1000);
        long first = journal.FirstRetainedId;
        Assert.True(first > 50, $"retention must have deleted the first segments (first kept {first})");
        Assert.Equal([first, 1050L], Read(journal, 1, 50, first - 1, first, 1050).Select(r => r.Id));
    }

    [Fact]
    public async Task A_record_larger_than_the_read_window_is_read_whole()
    {
        using var dir = new TempDirectory();
        static byte[] Big(long id) => Encoding.UTF8.GetBytes(new string((char)('A' + (id % 26)), 200_000 + (int)id));
        await using Journal journal = Journal.Open(Options(dir.Path, segmentBytes: 4L * 1024 * 1024));
        await AppendAsync(journal, 6, Big);
        List<(long Id, DateTimeOffset Timestamp, byte[] Payload)> records = Read(journal, 2, 3, 6);
        Assert.Equal([2L, 3L, 6L], records.Select(r => r.Id));
        Assert.All(records, r => Assert.Equal(Big(r.Id), r.Payload));
    }

    [Fact]
    public async Task Records_after_accepted_damage_in_a_segment_are_found()
    {
        using var dir = new TempDirectory();
        await using (Journal journal = Journal.Open(Options(dir.Path, segmentBytes: 1024 * 1024)))
        {
            await AppendAsync(journal, 100);
        }

        // Flip a byte in the middle of the only segment: a record there fails its checksum.
        string segment = Directory.GetFiles(dir.Path, "*.seg").Single();
        byte[] bytes = File.ReadAllBytes(segment);
        bytes[bytes.Length / 2] ^= 0xFF;
        File.WriteAllBytes(segment, bytes);

        await using Journal reopened = Journal.Open(Options(dir.Path, segmentBytes: 1024 * 1024, acceptDamage: true));
        await AppendAsync(reopened, 5); // after the damage, in the same segment
        List<long> read = [.. Read(reopened, 1, 2, 10, 99, 100, reopened.LastId).Select(r => r.Id)];
        // The damaged record is gone (its neighbours are not), and records after the damage —
        // old ones and those appended after the reopen — are found.
        Assert.Equal([1L, 2L, 10L, 99L, 100L, reopened.LastId], read);
    }

    [Fact]
    public async Task Reads_while_another_thread_appends_find_every_committed_record()
    {
        using var dir = new TempDirectory();
        await using Journal journal = Journal.Open(Options(dir.Path, segmentBytes: 32 * 1024));
        await AppendAsync(journal, 10);
        Task appender = Task.Run(() => AppendAsync(journal, 3000));
        int rounds = 0;
        while (!appender.IsCompleted || rounds == 0)
        {
            long committed = journal.CommittedId;
            long[] ids = [1, committed / 2 + 1, committed];
            Assert.Equal(ids.Distinct(), Read(journal, [.. ids.Distinct()]).Select(r => r.Id));
            rounds++;
        }

        await appender;
        Assert.True(rounds > 0);
    }
}
