using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Parley;

namespace Parley.Journal.Tests;

/// <summary>
/// Issue 16: recovery never deletes what it cannot prove bad, never renumbers, never reuses an
/// id. Each case damages a generated three-segment journal the way a disk, an operator or an
/// attacker could, then checks what <see cref="JournalReader.Verify"/> reports, whether
/// <see cref="Journal.Open"/> refuses (changing nothing) or opens, what it replays, and the next id.
/// </summary>
public class JournalDamageTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private const int Count = 2000;

    private static JournalOptions Options(string directory, bool accept = false) => new()
    {
        Directory = directory,
        Durability = JournalDurability.None,
        SegmentBytes = 48 * 1024,
        MaxTotalBytes = 64 * 1024 * 1024,
        AcceptDamage = accept,
    };

    private static byte[] Payload(long i) => Encoding.UTF8.GetBytes($"message {i} " + new string('x', (int)(i % 50)));

    /// <summary>2000 records in three segments; returns the segment paths, oldest first.</summary>
    private static async Task<string[]> CreateAsync(string directory)
    {
        await using (Journal journal = Journal.Open(Options(directory)))
        {
            for (int i = 1; i <= Count; i++)
            {
                await journal.AppendAsync(Payload(i)).WaitAsync(Timeout); // one at a time: the same segments every run
            }
        }

        string[] segments = Segments(directory);
        Assert.Equal(3, segments.Length);
        return segments;
    }

    private static bool Fail(JournalVerification report) => throw new Xunit.Sdk.XunitException(string.Join(Environment.NewLine, report.Problems));

    private static string[] Segments(string directory) => [.. Directory.GetFiles(directory, "*.seg").Order(StringComparer.Ordinal)];

    private static Dictionary<string, string> Fingerprint(string directory) =>
        Directory.GetFiles(directory).Where(f => !f.EndsWith("LOCK", StringComparison.Ordinal))
            .ToDictionary(f => Path.GetFileName(f), f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f))));

    private static List<long> Ids(string directory, bool accept = false)
    {
        var ids = new List<long>();
        Journal journal = Journal.Open(Options(directory, accept), (in JournalRecord r) =>
        {
            Assert.Equal(Payload(r.Id), r.Payload.ToArray()); // every record replayed is the one written under that id
            ids.Add(r.Id);
        });
        journal.DisposeAsync().AsTask().Wait(Timeout);
        return ids;
    }

    private static async Task<long> AppendOneAsync(string directory, bool accept = false)
    {
        await using Journal journal = Journal.Open(Options(directory, accept));
        return (await journal.AppendAsync(Payload(0)).WaitAsync(Timeout)).Id;
    }

    /// <summary>The byte offset of record <paramref name="id"/> in a segment whose first record is <paramref name="firstId"/>.</summary>
    private static long OffsetOf(long id, long firstId)
    {
        long offset = 32;
        for (long i = firstId; i < id; i++)
        {
            offset += 24 + Payload(i).Length;
        }

        return offset;
    }

    private static long FirstIdOf(string segment) => long.Parse(Path.GetFileNameWithoutExtension(segment), System.Globalization.CultureInfo.InvariantCulture);

    private static void Flip(string path, long offset, byte mask)
    {
        byte[] bytes = File.ReadAllBytes(path);
        bytes[offset] ^= mask;
        File.WriteAllBytes(path, bytes);
    }

    [Fact]
    public async Task A_flipped_byte_mid_segment_costs_one_record_is_refused_until_accepted_and_leaves_the_file_as_it_was()
    {
        using var dir = new TempDirectory();
        string[] segments = await CreateAsync(dir.Path);
        long first = FirstIdOf(segments[0]);
        long victim = first + 300;
        Flip(segments[0], OffsetOf(victim, first) + 24 + 3, 0x20); // a payload byte of one record
        Dictionary<string, string> before = Fingerprint(dir.Path);

        JournalVerification report = JournalReader.Verify(dir.Path);
        JournalProblem problem = Assert.Single(report.Problems, p => p.Kind != JournalProblemKind.HighWaterMark || Fail(report));
        Assert.True(problem.LosesData);
        Assert.Equal((victim, victim), (problem.FirstId, problem.LastId));
        Assert.Equal(OffsetOf(victim, first), problem.Offset);
        Assert.Equal(Count - 1, report.Records);

        var refused = Assert.Throws<JournalDamagedException>(() => Journal.Open(Options(dir.Path)));
        Assert.Contains($"ids {victim}..{victim}", refused.Message, StringComparison.Ordinal);
        Assert.Equal(before, Fingerprint(dir.Path)); // refusing changed nothing

        List<long> ids = Ids(dir.Path, accept: true);
        Assert.Equal(Enumerable.Range(1, Count).Select(i => (long)i).Where(i => i != victim), ids);
        Assert.Equal(Count + 1, await AppendOneAsync(dir.Path, accept: true));
        Assert.Equal(before[Path.GetFileName(segments[0])], Fingerprint(dir.Path)[Path.GetFileName(segments[0])]); // never truncated
    }

    [Theory]
    [InlineData(0, 8 + 7, 0x01)] // bit 56 of the first segment's first id
    [InlineData(1, 8, 0x01)]      // the second segment's first id, lowest bit
    [InlineData(1, 2, 0xFF)]      // the second segment's magic
    [InlineData(2, 17, 0x10)]     // the newest segment's previous id
    public async Task A_damaged_segment_header_never_renumbers_records(int segment, int offset, byte mask)
    {
        using var dir = new TempDirectory();
        string[] segments = await CreateAsync(dir.Path);
        Flip(segments[segment], offset, mask);

        JournalVerification report = JournalReader.Verify(dir.Path);
        Assert.Equal(Count, report.Records);
        Assert.Equal((1L, (long)Count), (report.FirstId, report.LastId));
        Assert.Contains(report.Problems, p => p.Kind == JournalProblemKind.DamagedHeader);
        Assert.False(report.LosesData);

        Assert.Equal(Enumerable.Range(1, Count).Select(i => (long)i), Ids(dir.Path));
        long next = await AppendOneAsync(dir.Path);
        Assert.True(next > Count, $"next id {next}");
        Assert.True(next < 1L << 40, $"next id {next} was renumbered from a damaged header");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public async Task A_deleted_segment_is_reported_refused_and_its_ids_are_never_reused(int segment)
    {
        using var dir = new TempDirectory();
        string[] segments = await CreateAsync(dir.Path);
        long lostFirst = FirstIdOf(segments[segment]);
        long lostLast = segment < 2 ? FirstIdOf(segments[segment + 1]) - 1 : Count;
        File.Delete(segments[segment]);

        JournalVerification report = JournalReader.Verify(dir.Path);
        Assert.True(report.LosesData);
        JournalProblem problem = Assert.Single(report.Problems, p => p.LosesData);
        Assert.Equal(lostFirst, problem.FirstId);
        if (segment < 2)
        {
            Assert.Equal(lostLast, problem.LastId);
        }

        Assert.Throws<JournalDamagedException>(() => Journal.Open(Options(dir.Path)));
        List<long> ids = Ids(dir.Path, accept: true);
        Assert.Equal(Enumerable.Range(1, Count).Select(i => (long)i).Where(i => i < lostFirst || i > lostLast), ids);
        Assert.True(await AppendOneAsync(dir.Path, accept: true) > Count); // never an id handed out before
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(10)]
    public async Task The_newest_segment_cut_to_a_few_bytes_is_refused_and_its_ids_are_never_reused(int length)
    {
        using var dir = new TempDirectory();
        string[] segments = await CreateAsync(dir.Path);
        using (var file = new FileStream(segments[2], FileMode.Open))
        {
            file.SetLength(length);
        }

        JournalVerification report = JournalReader.Verify(dir.Path);
        Assert.Contains(report.Problems, p => p.Kind == JournalProblemKind.UnreadableSegment && p.LosesData);
        Assert.Throws<JournalDamagedException>(() => Journal.Open(Options(dir.Path)));

        Assert.True(await AppendOneAsync(dir.Path, accept: true) > Count);
        Assert.True(File.Exists(segments[2] + ".corrupt")); // set aside, not deleted
    }

    [Fact]
    public async Task A_segment_copied_under_a_later_name_is_read_once_and_reported_as_duplicates()
    {
        using var dir = new TempDirectory();
        string[] segments = await CreateAsync(dir.Path);
        string copy = Path.Combine(dir.Path, $"{Count + 5000:D20}.seg");
        File.Copy(segments[0], copy);

        var problems = new List<JournalProblem>();
        List<long> read = [.. JournalReader.Read(dir.Path, 1, 1024 * 1024, problems).Select(r => r.Id)];
        Assert.Equal(Enumerable.Range(1, Count).Select(i => (long)i), read);
        Assert.Contains(problems, p => p.Kind == JournalProblemKind.DuplicateRecords && p.FirstId == 1);
        Assert.DoesNotContain(problems, p => p.LosesData);

        Assert.Equal(Enumerable.Range(1, Count).Select(i => (long)i), Ids(dir.Path));
        Assert.Equal(Count + 1, await AppendOneAsync(dir.Path));
        Assert.DoesNotContain(JournalReader.Verify(dir.Path).Problems, p => p.Kind != JournalProblemKind.DuplicateRecords);
    }

    [Fact]
    public async Task A_torn_tail_is_cut_kept_aside_and_new_ids_start_past_the_high_water_mark()
    {
        using var dir = new TempDirectory();
        string[] segments = await CreateAsync(dir.Path);
        long whole = new FileInfo(segments[2]).Length;
        byte[] record = new byte[200];
        int length = JournalFormat.WriteRecord(record, Count + 1, 0, Payload(Count + 1));
        using (var file = new FileStream(segments[2], FileMode.Append))
        {
            file.Write(record, 0, length - 5); // a write cut short
        }

        JournalProblem torn = Assert.Single(JournalReader.Verify(dir.Path).Problems);
        Assert.Equal(JournalProblemKind.TornTail, torn.Kind);
        Assert.False(torn.LosesData);

        Assert.Equal(Enumerable.Range(1, Count).Select(i => (long)i), Ids(dir.Path)); // opens without AcceptDamage
        Assert.Equal(whole, new FileInfo(segments[2]).Length);
        Assert.Equal(record[..(length - 5)], File.ReadAllBytes($"{segments[2]}.tail-{whole}"));
        long next = await AppendOneAsync(dir.Path);
        Assert.True(next > Count + 1, $"next id {next} could repeat the torn record's");
        Assert.True(JournalReader.Verify(dir.Path).Clean);
    }

    [Fact]
    public async Task Garbage_after_the_end_of_an_older_segment_is_skipped_without_losing_anything()
    {
        using var dir = new TempDirectory();
        string[] segments = await CreateAsync(dir.Path);
        using (var file = new FileStream(segments[0], FileMode.Append))
        {
            file.Write(new byte[100]);
        }

        JournalProblem problem = Assert.Single(JournalReader.Verify(dir.Path).Problems);
        Assert.Equal(JournalProblemKind.CorruptRecords, problem.Kind);
        Assert.False(problem.LosesData);
        Assert.Equal(Enumerable.Range(1, Count).Select(i => (long)i), Ids(dir.Path));
    }

    [Fact]
    public async Task Ids_never_repeat_after_losing_the_newest_segment_because_the_high_water_mark_moves_ahead_of_them()
    {
        using var dir = new TempDirectory();
        JournalOptions options = Options(dir.Path);
        options.IdReserveBlock = 16; // the mark is rewritten every 16 ids
        await using (Journal journal = Journal.Open(options))
        {
            for (int i = 1; i <= Count; i++)
            {
                await journal.AppendAsync(Payload(i)).WaitAsync(Timeout);
            }
        }

        File.Delete(Segments(dir.Path)[^1]);
        JournalOptions accepting = Options(dir.Path, accept: true);
        accepting.IdReserveBlock = 16;
        await using Journal reopened = Journal.Open(accepting);
        long next = (await reopened.AppendAsync(Payload(0)).WaitAsync(Timeout)).Id;
        Assert.InRange(next, Count + 1, Count + 16 + 1);
    }

    [Fact]
    public async Task A_missing_high_water_mark_is_rewritten_and_a_damaged_one_makes_new_ids_skip_a_block()
    {
        using var dir = new TempDirectory();
        await CreateAsync(dir.Path);
        string mark = Path.Combine(dir.Path, "HIGHWATER");

        File.Delete(mark);
        Assert.Equal(JournalProblemKind.HighWaterMark, Assert.Single(JournalReader.Verify(dir.Path).Problems).Kind);
        Assert.Equal(Count + 1, await AppendOneAsync(dir.Path));
        Assert.True(JournalReader.Verify(dir.Path).Clean);

        Flip(mark, 12, 0x01);
        Assert.False(JournalReader.Verify(dir.Path).LosesData);
        Assert.True(await AppendOneAsync(dir.Path) > Count + 1 + (1 << 19));
    }

    [Fact]
    public async Task A_journal_in_the_version_1_format_is_read_and_appended_to()
    {
        using var dir = new TempDirectory();
        byte[] file = new byte[16 + (10 * 200)];
        "PRLYJRN1"u8.CopyTo(file);
        BinaryPrimitives.WriteInt64LittleEndian(file.AsSpan(8), 1);
        int length = 16;
        for (int i = 1; i <= 10; i++)
        {
            length += JournalFormat.WriteRecord(file.AsSpan(length), i, 0, Payload(i));
        }

        File.WriteAllBytes(Path.Combine(dir.Path, $"{1:D20}.seg"), file[..length]);

        Assert.Equal(Enumerable.Range(1, 10).Select(i => (long)i), Ids(dir.Path));
        Assert.Equal(11, await AppendOneAsync(dir.Path));
        Assert.Equal(11, JournalReader.Read(dir.Path).Count());
    }

    [Fact]
    public async Task Repair_rewrites_what_survives_keeps_the_original_and_the_result_opens_clean()
    {
        using var dir = new TempDirectory();
        string[] segments = await CreateAsync(dir.Path);
        long first = FirstIdOf(segments[1]);
        Flip(segments[1], OffsetOf(first + 10, first) + 30, 0x04);
        File.Delete(segments[2]);
        Dictionary<string, string> original = Fingerprint(dir.Path);

        JournalRepairResult result = Journal.Repair(Options(dir.Path));
        Assert.True(result.Repaired);
        Assert.Equal(original, Fingerprint(result.BackupDirectory!)); // kept as it was
        Assert.True(result.NextId > Count); // the lost newest segment's ids stay used

        JournalVerification repaired = JournalReader.Verify(dir.Path);
        Assert.True(repaired.Clean, string.Join("; ", repaired.Problems));
        List<long> ids = Ids(dir.Path); // opens without AcceptDamage
        Assert.Equal(Enumerable.Range(1, (int)FirstIdOf(segments[2]) - 1).Select(i => (long)i).Where(i => i != first + 10), ids);
        Assert.Equal(result.NextId, await AppendOneAsync(dir.Path));

        JournalRepairResult again = Journal.Repair(Options(dir.Path));
        Assert.False(again.Repaired); // clean: left alone
        Directory.Delete(result.BackupDirectory!, recursive: true);
    }

    [Fact]
    public async Task Repair_is_refused_while_the_journal_is_open()
    {
        using var dir = new TempDirectory();
        await using Journal journal = Journal.Open(Options(dir.Path));
        var error = Assert.Throws<IOException>(() => Journal.Repair(Options(dir.Path)));
        Assert.Contains("in use", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Retention_moves_the_high_water_mark_so_a_clean_journal_verifies_clean()
    {
        using var dir = new TempDirectory();
        JournalOptions options = Options(dir.Path);
        options.MaxTotalBytes = 128 * 1024;
        await using (Journal journal = Journal.Open(options))
        {
            for (int i = 1; i <= 4 * Count; i++)
            {
                await journal.AppendAsync(Payload(i)).WaitAsync(Timeout);
            }
        }

        JournalVerification report = JournalReader.Verify(dir.Path);
        Assert.True(report.FirstId > 1); // retention deleted the oldest
        Assert.True(report.Clean, string.Join("; ", report.Problems));
    }

    // Review findings (cold review of the first version): each failed then.

    [Fact]
    public async Task Every_segment_deleted_still_never_reuses_an_id()
    {
        using var dir = new TempDirectory();
        foreach (string segment in await CreateAsync(dir.Path))
        {
            File.Delete(segment);
        }

        Assert.Throws<JournalDamagedException>(() => Journal.Open(Options(dir.Path)));
        Assert.True(await AppendOneAsync(dir.Path, accept: true) > Count);
    }

    [Fact]
    public async Task A_damaged_header_on_the_oldest_segment_after_retention_loses_nothing()
    {
        using var dir = new TempDirectory();
        JournalOptions options = Options(dir.Path);
        options.MaxTotalBytes = 128 * 1024;
        await using (Journal journal = Journal.Open(options))
        {
            for (int i = 1; i <= 3 * Count; i++)
            {
                await journal.AppendAsync(Payload(i)).WaitAsync(Timeout);
            }
        }

        string oldest = Segments(dir.Path)[0];
        Assert.True(FirstIdOf(oldest) > 1);
        Flip(oldest, 9, 0x01);
        JournalVerification report = JournalReader.Verify(dir.Path);
        Assert.False(report.LosesData, string.Join("; ", report.Problems));
    }

    [Fact]
    public async Task Acknowledged_records_zeroed_or_damaged_at_the_end_of_the_newest_segment_are_lost_not_a_torn_tail()
    {
        using var dir = new TempDirectory();
        string[] segments = await CreateAsync(dir.Path);
        byte[] bytes = File.ReadAllBytes(segments[2]);
        Array.Clear(bytes, 32, bytes.Length - 32); // every record of the newest segment zeroed: more than one write can leave
        File.WriteAllBytes(segments[2], bytes);
        var scanOptions = Options(dir.Path);
        scanOptions.MaxRecordBytes = 1024;
        scanOptions.MaxPendingBytes = 4096; // one batch at most ~4 KiB: the zeros are far more
        Assert.Throws<JournalDamagedException>(() => Journal.Open(scanOptions));

        using var dir2 = new TempDirectory();
        segments = await CreateAsync(dir2.Path);
        long first = FirstIdOf(segments[2]);
        Flip(segments[2], OffsetOf(Count, first) + 24 + 2, 0x01); // the very last record, whole but damaged
        Assert.Throws<JournalDamagedException>(() => Journal.Open(Options(dir2.Path)));
    }

    [Fact]
    public async Task A_record_shaped_payload_is_not_taken_for_the_damaged_record_it_sits_in()
    {
        using var dir = new TempDirectory();
        byte[] forged = new byte[64];
        int forgedLength = JournalFormat.WriteRecord(forged, 5, 0, "FORGED"u8);
        await using (Journal journal = Journal.Open(Options(dir.Path)))
        {
            for (int i = 1; i <= 10; i++)
            {
                byte[] payload = i == 5 ? [.. Encoding.UTF8.GetBytes("carrier "), .. forged.AsSpan(0, forgedLength)] : Payload(i);
                await journal.AppendAsync(payload).WaitAsync(Timeout);
            }
        }

        string segment = Segments(dir.Path)[0];
        Flip(segment, OffsetOf(5, 1) + 4, 0x01); // the real record 5's checksum
        var ids = new List<(long Id, string Text)>();
        Journal reopened = Journal.Open(Options(dir.Path, accept: true), (in JournalRecord r) => ids.Add((r.Id, Encoding.UTF8.GetString(r.Payload.Span))));
        await reopened.DisposeAsync();
        Assert.DoesNotContain(ids, r => r.Text == "FORGED");
        Assert.Equal(new long[] { 1, 2, 3, 4, 6, 7, 8, 9, 10 }, ids.Select(r => r.Id));
    }

    [Fact]
    public async Task A_damaged_high_water_mark_twice_in_a_row_still_opens()
    {
        using var dir = new TempDirectory();
        await CreateAsync(dir.Path);
        string mark = Path.Combine(dir.Path, "HIGHWATER");
        Flip(mark, 12, 0x01);
        long first = await AppendOneAsync(dir.Path);
        Flip(mark, 12, 0x01);
        long second = await AppendOneAsync(dir.Path);
        Assert.True(second > first);
    }

    [Fact]
    public async Task With_durability_none_records_lost_at_a_record_boundary_in_a_crash_do_not_give_their_ids_again()
    {
        using var dir = new TempDirectory();
        string[] segments = await CreateAsync(dir.Path);
        // A crash (not a clean close) that lost the last ten acknowledged records, cleanly at a record boundary.
        long first = FirstIdOf(segments[2]);
        using (var file = new FileStream(segments[2], FileMode.Open))
        {
            file.SetLength(OffsetOf(Count - 9, first));
        }

        byte[] mark = File.ReadAllBytes(Path.Combine(dir.Path, "HIGHWATER"));
        BinaryPrimitives.WriteInt64LittleEndian(mark.AsSpan(32), 0); // as a crash leaves it: not closed cleanly
        BinaryPrimitives.WriteUInt32LittleEndian(mark.AsSpan(40), Crc32C.Compute(mark.AsSpan(0, 40)));
        File.WriteAllBytes(Path.Combine(dir.Path, "HIGHWATER"), mark);

        Assert.True(await AppendOneAsync(dir.Path) > Count);
    }

    [Fact]
    public async Task A_clean_close_goes_on_without_skipping_ids()
    {
        using var dir = new TempDirectory();
        await CreateAsync(dir.Path);
        Assert.Equal(Count + 1, await AppendOneAsync(dir.Path));
        Assert.Equal(Count + 2, await AppendOneAsync(dir.Path));
    }

    [Fact]
    public async Task Damage_accepted_once_is_not_refused_again_but_new_damage_is()
    {
        using var dir = new TempDirectory();
        string[] segments = await CreateAsync(dir.Path);
        Flip(segments[0], OffsetOf(100, 1) + 30, 0x02);
        Assert.Throws<JournalDamagedException>(() => Journal.Open(Options(dir.Path)));
        await AppendOneAsync(dir.Path, accept: true);
        await AppendOneAsync(dir.Path); // accepted before: opens without AcceptDamage

        Flip(segments[1], OffsetOf(FirstIdOf(segments[1]) + 5, FirstIdOf(segments[1])) + 30, 0x02);
        Assert.Throws<JournalDamagedException>(() => Journal.Open(Options(dir.Path)));
    }

    [Fact]
    public async Task Repair_after_an_accepted_loss_keeps_new_ids_past_every_id_handed_out()
    {
        using var dir = new TempDirectory();
        string[] segments = await CreateAsync(dir.Path);
        File.Delete(segments[2]);
        Flip(segments[0], OffsetOf(10, 1) + 30, 0x02);
        await (Journal.Open(Options(dir.Path, accept: true))).DisposeAsync();

        JournalRepairResult result = Journal.Repair(Options(dir.Path));
        Assert.True(result.NextId > Count, $"next id {result.NextId}");
        Assert.Equal(result.NextId, await AppendOneAsync(dir.Path));
        Directory.Delete(result.BackupDirectory!, recursive: true);
    }

    [Fact]
    public void An_interrupted_repair_is_refused_rather_than_starting_an_empty_journal()
    {
        using var dir = new TempDirectory();
        string journal = Path.Combine(dir.Path, "journal");
        Directory.CreateDirectory(journal + ".repairing-20261201T000000Z");
        var error = Assert.Throws<IOException>(() => Journal.Open(Options(journal)));
        Assert.Contains("repair was interrupted", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(journal));
    }
}
