using System.Diagnostics.Metrics;
using System.Text;
using Microsoft.Extensions.Logging;
using Parley.Tests;

namespace Parley.Journal.Tests;

/// <summary>
/// Disk faults on the write path, injected through the writer's storage seam: a failed write
/// refuses its records, never the process or the writer, leaves nothing behind in the segment,
/// and the journal stores again by itself once the disk does.
/// </summary>
public class DiskFaultTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(1);

    private static JournalOptions Options(string directory, FaultyStorage storage, ManualClock clock, ILoggerFactory? loggers = null, long segmentBytes = 1024 * 1024, long maxTotalBytes = 1024 * 1024) => new()
    {
        Directory = directory,
        Durability = JournalDurability.Always,
        SegmentBytes = segmentBytes,
        MaxTotalBytes = maxTotalBytes,
        MaxRecordBytes = 1024,
        MaxPendingBytes = 64 * 1024,
        WriteRetryDelay = RetryDelay,
        MaxWriteRetryDelay = MaxRetryDelay,
        Storage = storage,
        TimeProvider = clock,
        LoggerFactory = loggers ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance,
    };

    private static byte[] Payload(int i) => Encoding.UTF8.GetBytes($"message {i} " + new string('x', i % 50));

    /// <summary>What a restart recovers: every record, in order.</summary>
    private static async Task<List<(long Id, string Text)>> ReopenAsync(string directory)
    {
        var records = new List<(long, string)>();
        var options = new JournalOptions { Directory = directory, MaxRecordBytes = 1024, SegmentBytes = 4096, MaxTotalBytes = 1024 * 1024 };
        Journal journal = Journal.Open(options, (in JournalRecord r) => records.Add((r.Id, Encoding.UTF8.GetString(r.Payload.Span))));
        await journal.DisposeAsync().AsTask().WaitAsync(Timeout);
        Assert.Empty(Directory.GetFiles(directory, "*.corrupt"));
        Assert.Equal(records, JournalReader.Read(directory, maxRecordBytes: 1024).Select(r => (r.Id, Encoding.UTF8.GetString(r.Payload.Span))));
        return records;
    }

    private static List<(long, string)> Expected(params int[] payloads) =>
        [.. payloads.Select((p, i) => ((long)(i + 1), Encoding.UTF8.GetString(Payload(p))))];

    private static async Task<IOException> RefusedAsync(Journal journal, int payload) =>
        await Assert.ThrowsAsync<IOException>(() => journal.AppendAsync(Payload(payload)).WaitAsync(Timeout));

    [Theory]
    [InlineData("ENOSPC", "write")]
    [InlineData("EFBIG", "write")]
    [InlineData("EIO", "write")]
    [InlineData("EROFS", "write")]
    [InlineData("EACCES", "write")]
    [InlineData("ENOSPC", "fsync")]
    [InlineData("EIO", "fsync")]
    public async Task A_failed_write_of_any_kind_refuses_its_record_leaves_nothing_in_the_segment_and_the_journal_stores_again_once_the_disk_does(string errno, string failing)
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

            string segment = Directory.GetFiles(dir.Path, "*.seg").Single();
            long good = new FileInfo(segment).Length;
            Exception fault = FaultyStorage.Errno(errno);
            if (failing == "write")
            {
                storage.WriteFault = fault; // half the record reaches the file, then the error
            }
            else
            {
                storage.FlushFault = fault; // the whole record reaches the file, then fsync fails
            }

            IOException refused = await RefusedAsync(journal, 100);
            Assert.Same(fault, refused.InnerException);
            Assert.Equal(good, new FileInfo(segment).Length); // cut back: no garbage for later records to follow
            Assert.Equal(3, journal.CommittedId);
            Assert.Equal(3, journal.LastId); // the refused id is handed out again

            storage.WriteFault = null;
            storage.FlushFault = null;
            clock.Advance(RetryDelay);
            Assert.Equal(4, (await journal.AppendAsync(Payload(4)).WaitAsync(Timeout)).Id);
        }

        Assert.Equal(Expected(1, 2, 3, 4), await ReopenAsync(dir.Path));
    }

    [Fact]
    public async Task While_the_disk_fails_records_are_refused_at_once_and_the_disk_is_tried_again_after_a_doubling_bounded_wait()
    {
        using var dir = new TempDirectory();
        var storage = new FaultyStorage();
        var clock = new ManualClock();
        var loggers = new CapturingLoggerFactory();
        await using (Journal journal = Journal.Open(Options(dir.Path, storage, clock, loggers)))
        {
            await journal.AppendAsync(Payload(1)).WaitAsync(Timeout);
            storage.WriteFault = FaultyStorage.Errno("ENOSPC");
            await RefusedAsync(journal, 100);
            Assert.Equal(2, storage.Writes);

            // Each failed try doubles the wait before the next: 100, 200, 400, 800 ms, then 1 s at most.
            foreach (TimeSpan wait in new[] { 100, 200, 400, 800, 1000, 1000, 1000 }.Select(ms => TimeSpan.FromMilliseconds(ms)))
            {
                int writes = storage.Writes;
                clock.Advance(wait - TimeSpan.FromTicks(1));
                await RefusedAsync(journal, 100);
                Assert.Equal(writes, storage.Writes); // refused without touching the disk
                clock.Advance(TimeSpan.FromTicks(1));
                await RefusedAsync(journal, 100);
                Assert.Equal(writes + 1, storage.Writes); // tried
            }

            // One warning when it starts, not one per failure; then at most one line per 30 s.
            Assert.Single(loggers.Entries, e => e.EventId == 520 && e.Level == LogLevel.Warning);
            Assert.DoesNotContain(loggers.Entries, e => e.EventId == 521);
            clock.Advance(TimeSpan.FromSeconds(30));
            await RefusedAsync(journal, 100);
            Assert.Single(loggers.Entries, e => e.EventId == 521 && e.Message.Contains("No space left on device", StringComparison.Ordinal));

            storage.WriteFault = null;
            clock.Advance(MaxRetryDelay);
            Assert.Equal(2, (await journal.AppendAsync(Payload(2)).WaitAsync(Timeout)).Id);
            Assert.Single(loggers.Entries, e => e.EventId == 522 && e.Level == LogLevel.Information && e.Message.Contains("16 record(s) were refused", StringComparison.Ordinal));
        }

        Assert.Equal(Expected(1, 2), await ReopenAsync(dir.Path));
    }

    [Fact]
    public async Task The_failing_metric_is_one_from_the_first_failed_write_until_a_write_succeeds()
    {
        using var dir = new TempDirectory();
        var storage = new FaultyStorage();
        var clock = new ManualClock();
        long failing = 0;
        long refused = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == JournalMetrics.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            // Other tests' journals report on the same meter: count this one's only.
            bool mine = false;
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                mine |= tag.Key == JournalMetrics.DirectoryTag && (string?)tag.Value == dir.Path;
            }

            if (mine && instrument.Name == "parley.journal.failing")
            {
                Interlocked.Add(ref failing, value);
            }
            else if (mine && instrument.Name == "parley.journal.records.refused")
            {
                Interlocked.Add(ref refused, value);
            }
        });
        listener.Start();

        await using (Journal journal = Journal.Open(Options(dir.Path, storage, clock)))
        {
            storage.WriteFault = FaultyStorage.Errno("EIO");
            await RefusedAsync(journal, 1);
            Assert.Equal(1, Interlocked.Read(ref failing));
            await RefusedAsync(journal, 2);
            Assert.Equal(1, Interlocked.Read(ref failing));
            Assert.Equal(2, Interlocked.Read(ref refused));

            storage.WriteFault = null;
            clock.Advance(RetryDelay);
            await journal.AppendAsync(Payload(3)).WaitAsync(Timeout);
            Assert.Equal(0, Interlocked.Read(ref failing));
        }
    }

    [Fact]
    public async Task When_even_the_cut_fails_nothing_is_appended_until_the_cut_succeeds()
    {
        using var dir = new TempDirectory();
        var storage = new FaultyStorage();
        var clock = new ManualClock();
        var loggers = new CapturingLoggerFactory();
        await using (Journal journal = Journal.Open(Options(dir.Path, storage, clock, loggers)))
        {
            await journal.AppendAsync(Payload(1)).WaitAsync(Timeout);
            string segment = Directory.GetFiles(dir.Path, "*.seg").Single();
            long good = new FileInfo(segment).Length;
            storage.WriteFault = FaultyStorage.Errno("EIO");
            storage.TruncateFault = FaultyStorage.Errno("EIO");
            await RefusedAsync(journal, 100);
            Assert.True(new FileInfo(segment).Length > good, "half a record is left in the file");
            Assert.Contains(loggers.Entries, e => e.EventId == 523);

            // The disk writes again, but the garbage cannot be cut yet: no record may follow it.
            storage.WriteFault = null;
            clock.Advance(RetryDelay);
            int writes = storage.Writes;
            await RefusedAsync(journal, 101);
            Assert.Equal(writes, storage.Writes);

            storage.TruncateFault = null;
            clock.Advance(MaxRetryDelay);
            Assert.Equal(2, (await journal.AppendAsync(Payload(2)).WaitAsync(Timeout)).Id);
        }

        Assert.Equal(Expected(1, 2), await ReopenAsync(dir.Path));
    }

    [Fact]
    public async Task A_roll_that_fails_leaves_no_stray_segment_and_ids_stay_one_unbroken_sequence()
    {
        using var dir = new TempDirectory();
        var storage = new FaultyStorage();
        var clock = new ManualClock();
        var stored = new List<int>();
        await using (Journal journal = Journal.Open(Options(dir.Path, storage, clock, segmentBytes: 4096)))
        {
            // The roll creates the new segment, then fails, and the file stays (the disk refused
            // its delete too); the next try must get rid of it first.
            storage.CreateFault = FaultyStorage.Errno("ENOSPC");
            storage.DeleteFault = FaultyStorage.Errno("EIO");
            int i = 0;
            while (true)
            {
                try
                {
                    await journal.AppendAsync(Payload(++i)).WaitAsync(Timeout);
                    stored.Add(i);
                }
                catch (IOException)
                {
                    break;
                }
            }

            Assert.Equal(2, Directory.GetFiles(dir.Path, "*.seg").Length); // the active one and the leftover

            storage.CreateFault = null;
            clock.Advance(RetryDelay);
            await RefusedAsync(journal, 1000); // the leftover cannot be deleted yet
            Assert.Equal(2, Directory.GetFiles(dir.Path, "*.seg").Length);

            storage.DeleteFault = null;
            clock.Advance(MaxRetryDelay);
            for (int j = 0; j < 50; j++)
            {
                await journal.AppendAsync(Payload(++i)).WaitAsync(Timeout);
                stored.Add(i);
            }

            Assert.True(journal.SegmentCount >= 2, "the journal rolled");
        }

        Assert.Equal(Expected([.. stored]), await ReopenAsync(dir.Path));
    }

    [Fact]
    public async Task Creating_rolling_and_deleting_segments_fsync_the_folder()
    {
        using var dir = new TempDirectory();
        var storage = new FaultyStorage();
        var clock = new ManualClock();
        var loggers = new CapturingLoggerFactory();
        await using (Journal journal = Journal.Open(Options(dir.Path, storage, clock, loggers, segmentBytes: 4096, maxTotalBytes: 8192)))
        {
            for (int i = 0; i < 300; i++)
            {
                await journal.AppendAsync(Payload(i)).WaitAsync(Timeout);
            }

            Assert.True(storage.Creates >= 3, "the journal rolled");
            Assert.Contains(loggers.Entries, e => e.EventId == 504); // and deleted old segments
            Assert.True(storage.Syncs >= storage.Creates + 1, $"{storage.Syncs} folder syncs for {storage.Creates} segments created and some deleted");

            // A roll whose folder sync fails is a failed write: its records are refused, and the
            // half-made segment is not left behind.
            storage.SyncFault = FaultyStorage.Errno("EIO");
            string[] before = Directory.GetFiles(dir.Path, "*.seg");
            int refusedAt = 300;
            while (true)
            {
                try
                {
                    await journal.AppendAsync(Payload(refusedAt++)).WaitAsync(Timeout);
                }
                catch (IOException)
                {
                    break;
                }
            }

            Assert.Equal(before, Directory.GetFiles(dir.Path, "*.seg"));
        }
    }

    [Fact]
    public void The_folder_sync_opens_and_fsyncs_a_real_folder_and_reports_a_missing_one()
    {
        using var dir = new TempDirectory();
        DirectorySync.Sync(dir.Path);
        var error = Assert.Throws<IOException>(() => DirectorySync.Sync(Path.Combine(dir.Path, "missing")));
        Assert.Contains("errno 2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task When_the_writer_itself_fails_every_waiting_record_is_completed_and_later_appends_are_refused()
    {
        using var dir = new TempDirectory();
        var storage = new FaultyStorage();
        var clock = new ManualClock();
        Journal journal = Journal.Open(Options(dir.Path, storage, clock, new ThrowingLoggerFactory()));
        storage.WriteFault = FaultyStorage.Errno("ENOSPC");

        // Logging the failure throws: a bug outside the disk handling, which stops the writer
        // with the batch in progress. Its caller must hear so, not wait for ever.
        IOException refused = await RefusedAsync(journal, 1);
        Assert.Contains("writer stopped", refused.Message, StringComparison.Ordinal);
        Assert.Throws<IOException>(() => journal.TryAppend(Payload(2), null, null, out _));
        await journal.DisposeAsync().AsTask().WaitAsync(Timeout);
    }

    /// <summary>Loggers that throw on "a write failed".</summary>
    private sealed class ThrowingLoggerFactory : ILoggerFactory
    {
        public ILogger CreateLogger(string categoryName) => new Logger();

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        private sealed class Logger : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (eventId.Id == 520)
                {
                    throw new InvalidOperationException("the log sink failed");
                }
            }
        }
    }
}
