using System.Text;
using Parley.Tests;

namespace Parley.Journal.Tests;

/// <summary>Issue 16, a cold review of the disk-fault path: the high-water mark under write failures, a refused record after a failed cut.</summary>
public class DiskFaultMarkTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static JournalOptions Options(string directory, FaultyStorage storage, ManualClock clock, long reserve = 4, long segmentBytes = 1024 * 1024, JournalDurability durability = JournalDurability.Always) => new()
    {
        Directory = directory,
        Durability = durability,
        SegmentBytes = segmentBytes,
        MaxTotalBytes = 1024 * 1024,
        MaxRecordBytes = 1024,
        MaxPendingBytes = 64 * 1024,
        WriteRetryDelay = TimeSpan.FromMilliseconds(100),
        MaxWriteRetryDelay = TimeSpan.FromSeconds(1),
        Storage = storage,
        TimeProvider = clock,
        IdReserveBlock = reserve,
    };

    private static byte[] Payload(int i) => Encoding.UTF8.GetBytes($"message {i} " + new string('x', 40));

    /// <summary>The folder as a SIGKILL leaves it (durability Always: everything acknowledged is on disk).</summary>
    private static string Snapshot(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string f in Directory.GetFiles(from))
        {
            if (Path.GetFileName(f) is "LOCK")
            {
                continue;
            }

            File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        }
        return to;
    }

    private static void BreakMark(string dir) => Directory.CreateDirectory(Path.Combine(dir, "HIGHWATER.tmp"));
    private static void FixMark(string dir) => Directory.Delete(Path.Combine(dir, "HIGHWATER.tmp"));

    private static async Task<(long NextId, List<long> Ids)> ReopenAndAppend(string dir)
    {
        var ids = new List<long>();
        await using Journal j = Journal.Open(new JournalOptions { Directory = dir, MaxRecordBytes = 1024 }, (in JournalRecord r) => ids.Add(r.Id));
        JournalEntry e = await j.AppendAsync(Payload(999)).WaitAsync(Timeout);
        return (e.Id, ids);
    }

    [Fact]
    public async Task A_failed_reservation_write_leaves_the_old_mark_in_force_so_no_acknowledged_id_is_handed_out_again()
    {
        using var dir = new TempDirectory();
        var storage = new FaultyStorage();
        var clock = new ManualClock();
        long lengthAt4;
        string crash = dir.Path + "-crash";
        await using (Journal journal = Journal.Open(Options(dir.Path, storage, clock)))
        {
            for (int i = 1; i <= 4; i++)
            {
                await journal.AppendAsync(Payload(i)).WaitAsync(Timeout);
            }

            lengthAt4 = new FileInfo(Directory.GetFiles(dir.Path, "*.seg").Single()).Length;
            BreakMark(dir.Path);
            var ex = await Assert.ThrowsAnyAsync<Exception>(() => journal.AppendAsync(Payload(5)).WaitAsync(Timeout));
            FixMark(dir.Path);
            clock.Advance(TimeSpan.FromSeconds(2));
            long last = 0;
            for (int i = 5; i <= 9; i++)
            {
                last = (await journal.AppendAsync(Payload(i)).WaitAsync(Timeout)).Id;
            }

            Assert.Equal(9, last);
            Snapshot(dir.Path, crash);
        }

        HighWaterMark.TryRead(crash, out HighWaterMark mark);
        // A durability-None style loss at a record boundary (or the newest segment's tail lost): acknowledged 5..9 gone.
        string seg = Directory.GetFiles(crash, "*.seg").Single();
        using (var f = new FileStream(seg, FileMode.Open))
        {
            f.SetLength(lengthAt4);
        }

        (long next, _) = await ReopenAndAppend(crash);
        Assert.True(next > 9, $"id {next} handed out again (5..9 were acknowledged)");
    }

    [Fact]
    public async Task Roll_mark_write_failure_then_crash_recovers()
    {
        using var dir = new TempDirectory();
        var storage = new FaultyStorage();
        var clock = new ManualClock();
        string crash1 = dir.Path + "-c1", crash2 = dir.Path + "-c2";
        await using (Journal journal = Journal.Open(Options(dir.Path, storage, clock, reserve: 1000, segmentBytes: 4096)))
        {
            int i = 1;
            for (; i < 40; i++)
            {
                await journal.AppendAsync(Payload(i)).WaitAsync(Timeout);
            }

            BreakMark(dir.Path);
            while (true)
            {
                try { await journal.AppendAsync(Payload(i)).WaitAsync(Timeout); i++; }
                catch (IOException) { break; } // the roll's mark write failed: refused
            }
            Snapshot(dir.Path, crash1);
            FixMark(dir.Path);
            BreakMark(dir.Path); // keep mark unwritable, but within reservation no write needed
            clock.Advance(TimeSpan.FromSeconds(2));
            long id = (await journal.AppendAsync(Payload(i)).WaitAsync(Timeout)).Id;
            Snapshot(dir.Path, crash2);
            FixMark(dir.Path);
        }

        var (n1, ids1) = await ReopenAndAppend(crash1);
        var (n2, ids2) = await ReopenAndAppend(crash2);
    }

    [Fact]
    public async Task A_refused_record_whose_cut_failed_is_cut_at_close_so_it_never_comes_back_as_stored()
    {
        using var dir = new TempDirectory();
        var storage = new FaultyStorage();
        var clock = new ManualClock();
        await using (Journal journal = Journal.Open(Options(dir.Path, storage, clock)))
        {
            for (int i = 1; i <= 3; i++)
            {
                await journal.AppendAsync(Payload(i)).WaitAsync(Timeout);
            }

            storage.FlushFault = FaultyStorage.Errno("EIO");
            storage.TruncateFault = FaultyStorage.Errno("EIO");
            await Assert.ThrowsAsync<IOException>(() => journal.AppendAsync(Payload(4)).WaitAsync(Timeout));
            storage.FlushFault = null;
            storage.TruncateFault = null; // the disk takes the cut again, but nothing more is appended before the close
        }

        (_, List<long> ids) = await ReopenAndAppend(dir.Path);
        Assert.Equal(new long[] { 1, 2, 3 }, ids);
    }

    [Fact]
    public async Task A_failed_mark_write_at_clean_close_reopens_with_every_record_and_new_ids_past_them()
    {
        using var dir = new TempDirectory();
        var storage = new FaultyStorage();
        var clock = new ManualClock();
        await using (Journal journal = Journal.Open(Options(dir.Path, storage, clock)))
        {
            for (int i = 1; i <= 3; i++)
            {
                await journal.AppendAsync(Payload(i)).WaitAsync(Timeout);
            }

            BreakMark(dir.Path);
        }
        FixMark(dir.Path);
        var (next, ids) = await ReopenAndAppend(dir.Path);
        Assert.Equal(new long[] { 1, 2, 3 }, ids);
        Assert.True(next > 3);
    }

    [Fact]
    public async Task Refused_in_backoff_then_accepted_callback_order()
    {
        using var dir = new TempDirectory();
        var storage = new FaultyStorage();
        var clock = new ManualClock();
        var order = new List<string>();
        await using (Journal journal = Journal.Open(Options(dir.Path, storage, clock)))
        {
            await journal.AppendAsync(Payload(1)).WaitAsync(Timeout);
            storage.WriteFault = FaultyStorage.Errno("ENOSPC");
            await Assert.ThrowsAsync<IOException>(() => journal.AppendAsync(Payload(2)).WaitAsync(Timeout));
            storage.WriteFault = null;
            var tcs = new List<TaskCompletionSource>();
            for (int i = 0; i < 20; i++)
            {
                var t = new TaskCompletionSource();
                tcs.Add(t);
                int k = i;
                Assert.True(journal.TryAppend(Payload(10 + k), (JournalEntry e, Exception? err, object? s) => { lock (order) { order.Add($"{k}:{e.Id}:{(err is null ? "ok" : "refused")}"); } t.TrySetResult(); }, null, out _));
                if (i == 10)
                {
                    clock.Advance(TimeSpan.FromSeconds(2));
                }
            }
            await Task.WhenAll(tcs.Select(t => t.Task)).WaitAsync(Timeout);
        }
        var (next, ids) = await ReopenAndAppend(dir.Path);
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.Equal(Enumerable.Range(1, ids.Count).Select(x => (long)x), ids);
    }

    [Theory]
    [InlineData("delete")]
    [InlineData("sync")]
    public async Task Retention_failures_then_crash(string what)
    {
        using var dir = new TempDirectory();
        var storage = new FaultyStorage();
        var clock = new ManualClock();
        string crash = dir.Path + "-c";
        var o = Options(dir.Path, storage, clock, reserve: 1000, segmentBytes: 4096);
        o.MaxTotalBytes = 8192;
        long acked = 0;
        await using (Journal journal = Journal.Open(o))
        {
            if (what == "delete")
            {
                storage.DeleteFault = FaultyStorage.Errno("EIO");
            }
            else
            {
                storage.SyncFault = FaultyStorage.Errno("EIO");
            }

            for (int i = 1; i <= 200; i++)
            {
                try { acked = (await journal.AppendAsync(Payload(i)).WaitAsync(Timeout)).Id; }
                catch (IOException) { clock.Advance(TimeSpan.FromSeconds(2)); } // refused; the back-off passes
            }
            Snapshot(dir.Path, crash);
        }
        HighWaterMark.TryRead(crash, out HighWaterMark mark);
        var (n, ids) = await ReopenAndAppend(crash);
        var (n2, ids2) = await ReopenAndAppend(dir.Path);
    }
}
