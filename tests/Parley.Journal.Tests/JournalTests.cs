using System.Text;

namespace Parley.Journal.Tests;

public class JournalTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static JournalOptions Options(
        string directory,
        JournalDurability durability = JournalDurability.Batch,
        long segmentBytes = 4096,
        long maxTotalBytes = 1024 * 1024,
        int maxRecordBytes = 1024 * 1024,
        int maxPendingBytes = 8 * 1024 * 1024) => new()
    {
        Directory = directory,
        Durability = durability,
        SegmentBytes = segmentBytes,
        MaxTotalBytes = maxTotalBytes,
        MaxRecordBytes = maxRecordBytes,
        MaxPendingBytes = maxPendingBytes,
    };

    private static byte[] Payload(int i) => Encoding.UTF8.GetBytes($"message {i} " + new string('x', i % 50));

    private static List<JournalRecord> Replay(JournalOptions options, out Journal journal)
    {
        var records = new List<JournalRecord>();
        journal = Journal.Open(options, (in JournalRecord r) => records.Add(r with { Payload = r.Payload.ToArray() }));
        return records;
    }

    [Theory]
    [InlineData(JournalDurability.Always)]
    [InlineData(JournalDurability.Batch)]
    [InlineData(JournalDurability.None)]
    public async Task Appended_records_come_back_after_reopening_with_their_ids_timestamps_and_payloads(JournalDurability durability)
    {
        using var dir = new TempDirectory();
        var entries = new List<JournalEntry>();
        await using (Journal journal = Journal.Open(Options(dir.Path, durability)))
        {
            for (int i = 0; i < 200; i++)
            {
                entries.Add(await journal.AppendAsync(Payload(i)).WaitAsync(Timeout));
            }
        }

        List<JournalRecord> records = Replay(Options(dir.Path), out Journal reopened);
        await using (reopened)
        {
            Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), records.Select(r => r.Id));
            Assert.Equal(entries.Select(e => e.Timestamp), records.Select(r => r.Timestamp));
            for (int i = 0; i < 200; i++)
            {
                Assert.Equal(Payload(i), records[i].Payload.ToArray());
            }

            Assert.True(reopened.SegmentCount > 1, "4 KiB segments must have rolled");
            Assert.Equal(201, (await reopened.AppendAsync(Payload(0)).WaitAsync(Timeout)).Id);
        }
    }

    [Fact]
    public async Task Commit_callbacks_run_once_each_in_id_order_for_concurrent_appenders()
    {
        using var dir = new TempDirectory();
        var committed = new List<long>();
        int expected = 8 * 500;
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using Journal journal = Journal.Open(Options(dir.Path, segmentBytes: 64 * 1024));
        JournalCommitCallback callback = (entry, error, _) =>
        {
            Assert.Null(error);
            committed.Add(entry.Id); // Only the writer thread runs callbacks: no lock needed.
            if (committed.Count == expected)
            {
                all.SetResult();
            }
        };
        await Task.WhenAll(Enumerable.Range(0, 8).Select(t => Task.Run(async () =>
        {
            for (int i = 0; i < 500; i++)
            {
                while (!journal.TryAppend(Payload(i), callback, null, out _))
                {
                    await journal.WaitForRoomAsync();
                }
            }
        })));
        await all.Task.WaitAsync(Timeout);
        Assert.Equal(Enumerable.Range(1, expected).Select(i => (long)i), committed);
        Assert.True(journal.Flushes < expected, "records share flushes (group commit)");
    }

    [Fact]
    public async Task A_torn_tail_is_cut_at_the_last_whole_record_and_appending_continues_past_the_high_water_mark()
    {
        using var dir = new TempDirectory();
        await using (Journal journal = Journal.Open(Options(dir.Path, segmentBytes: 1024 * 1024)))
        {
            for (int i = 0; i < 10; i++)
            {
                await journal.AppendAsync(Payload(i)).WaitAsync(Timeout);
            }
        }

        string segment = Directory.GetFiles(dir.Path, "*.seg").Single();
        long whole = new FileInfo(segment).Length;
        // A crash in the middle of writing record 11: its header and part of its body reached the disk.
        byte[] record = new byte[100];
        int length = JournalFormat.WriteRecord(record, 11, 0, Payload(11));
        using (var file = new FileStream(segment, FileMode.Append))
        {
            file.Write(record, 0, length - 5);
        }

        List<JournalRecord> records = Replay(Options(dir.Path), out Journal reopened);
        await using (reopened)
        {
            Assert.Equal(10, records.Count);
            Assert.Equal(whole, new FileInfo(segment).Length);
            JournalEntry next = await reopened.AppendAsync(Payload(99)).WaitAsync(Timeout);
            Assert.True(next.Id > 11, $"id {next.Id}: the torn record's id 11 may have been acknowledged (durability none)");
        }

        Assert.Equal(11, JournalReader.Read(dir.Path).Count());
        Assert.Equal(Payload(99), JournalReader.Read(dir.Path).Last().Payload.ToArray());
    }

    [Fact]
    public async Task A_record_whose_checksum_fails_is_skipped_alone_and_only_with_AcceptDamage()
    {
        using var dir = new TempDirectory();
        await using (Journal journal = Journal.Open(Options(dir.Path, segmentBytes: 1024 * 1024)))
        {
            for (int i = 0; i < 10; i++)
            {
                await journal.AppendAsync(Payload(i)).WaitAsync(Timeout);
            }
        }

        string segment = Directory.GetFiles(dir.Path, "*.seg").Single();
        byte[] bytes = File.ReadAllBytes(segment);
        // Flip one payload byte of record 8 (records 1..7 are untouched).
        int offset = JournalFormat.SegmentHeaderSize;
        for (int i = 0; i < 7; i++)
        {
            offset += JournalFormat.RecordOverhead + Payload(i).Length;
        }

        bytes[offset + JournalFormat.RecordOverhead + 2] ^= 0x40;
        File.WriteAllBytes(segment, bytes);

        Assert.Throws<JournalDamagedException>(() => Journal.Open(Options(dir.Path)));
        JournalOptions accepting = Options(dir.Path);
        accepting.AcceptDamage = true;
        List<JournalRecord> records = Replay(accepting, out Journal reopened);
        await using (reopened)
        {
            Assert.Equal(new long[] { 1, 2, 3, 4, 5, 6, 7, 9, 10 }, records.Select(r => r.Id));
            Assert.Equal(11, (await reopened.AppendAsync(Payload(8)).WaitAsync(Timeout)).Id);
        }
    }

    [Fact]
    public async Task Retention_deletes_the_oldest_segments_past_the_size_limit_and_ids_keep_increasing()
    {
        using var dir = new TempDirectory();
        var options = Options(dir.Path, segmentBytes: 4096, maxTotalBytes: 16 * 1024);
        await using (Journal journal = Journal.Open(options))
        {
            for (int i = 0; i < 1000; i++)
            {
                await journal.AppendAsync(new byte[100]).WaitAsync(Timeout);
            }

            Assert.True(Directory.GetFiles(dir.Path, "*.seg").Sum(f => new FileInfo(f).Length) <= 16 * 1024 + 4096);
        }

        List<JournalRecord> records = Replay(options, out Journal reopened);
        await using (reopened)
        {
            Assert.True(records.Count < 1000);
            Assert.Equal(1000, records[^1].Id);
            Assert.Equal(Enumerable.Range((int)records[0].Id, records.Count).Select(i => (long)i), records.Select(r => r.Id));
        }
    }

    [Fact]
    public async Task Appends_are_refused_while_too_many_bytes_wait_for_the_disk_and_resume_when_they_are_written()
    {
        using var dir = new TempDirectory();
        var options = Options(dir.Path, segmentBytes: 1024 * 1024, maxRecordBytes: 1000, maxPendingBytes: 8 * 1024);
        await using Journal journal = Journal.Open(options);
        using var release = new ManualResetEventSlim();
        using var holding = new ManualResetEventSlim();
        // The first record's callback holds the writer thread, so nothing after it gets written. Wait
        // until it does: appended before the writer took the first record, the others would be
        // written with it, and their bytes freed while the test waits for room (a CI run saw that).
        Assert.True(journal.TryAppend(new byte[10], (_, _, _) => { holding.Set(); release.Wait(Timeout); }, null, out _));
        Assert.True(holding.Wait(Timeout));
        int accepted = 0;
        while (journal.TryAppend(new byte[1000], null, null, out _))
        {
            accepted++;
            Assert.True(accepted < 100, "the pending limit must refuse at some point");
        }

        Task room = journal.WaitForRoomAsync();
        Assert.False(room.IsCompleted);
        release.Set();
        await room.WaitAsync(Timeout);
        Assert.True(journal.TryAppend(new byte[1000], null, null, out _));
    }

    [Fact]
    public async Task A_payload_over_the_record_limit_is_refused_with_a_clear_error()
    {
        using var dir = new TempDirectory();
        await using Journal journal = Journal.Open(Options(dir.Path, maxRecordBytes: 100));
        var error = Assert.Throws<ArgumentException>(() => journal.TryAppend(new byte[101], null, null, out _));
        Assert.Contains("at most 100 bytes", error.Message);
    }

    [Fact]
    public async Task Disposing_commits_what_was_appended_and_later_appends_are_refused()
    {
        using var dir = new TempDirectory();
        Journal journal = Journal.Open(Options(dir.Path, JournalDurability.Batch));
        Task<JournalEntry>[] pending = [.. Enumerable.Range(0, 50).Select(i => journal.AppendAsync(Payload(i)))];
        await journal.DisposeAsync();
        await Task.WhenAll(pending).WaitAsync(Timeout);
        Assert.Throws<ObjectDisposedException>(() => journal.TryAppend(Payload(1), null, null, out _));
        Assert.Equal(50, JournalReader.Read(dir.Path).Count());
    }

    [Fact]
    public void Crc32c_matches_the_standard_check_value()
    {
        Assert.Equal(0xE3069283u, JournalFormat.Crc32C("123456789"u8));
        Assert.Equal(0u, JournalFormat.Crc32C([]));
    }

    [Fact]
    public async Task A_segment_that_is_not_a_journal_file_is_set_aside_not_trusted()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(Path.Combine(dir.Path, "00000000000000000001.seg"), "hello, not a journal");
        await using (Journal journal = Journal.Open(Options(dir.Path)))
        {
            Assert.Equal(0, journal.LastId);
        }

        Assert.True(File.Exists(Path.Combine(dir.Path, "00000000000000000001.seg.corrupt")));
    }

    [Fact]
    public async Task A_second_journal_on_the_same_folder_is_refused_while_the_first_is_open()
    {
        using var dir = new TempDirectory();
        await using (Journal first = Journal.Open(Options(dir.Path)))
        {
            var error = Assert.Throws<IOException>(() => Journal.Open(Options(dir.Path)));
            Assert.Contains("in use by another process", error.Message);
        }

        await using Journal again = Journal.Open(Options(dir.Path)); // free once the first is closed
    }
}
