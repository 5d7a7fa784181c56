using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Parley.Journal;

/// <summary>Settings of a <see cref="Journal"/>.</summary>
public sealed class JournalOptions
{
    /// <summary>The folder of the segment files; created when missing. Required.</summary>
    public string Directory { get; set; } = "";

    /// <summary>When a record counts as committed. Default <see cref="JournalDurability.Batch"/>.</summary>
    public JournalDurability Durability { get; set; } = JournalDurability.Batch;

    /// <summary>
    /// With <see cref="JournalDurability.Batch"/>: the longest a record waits for its flush.
    /// Default 2 ms: under load hundreds of records share one fsync, and an idle journal adds
    /// at most this to a record's latency.
    /// </summary>
    public TimeSpan BatchInterval { get; set; } = TimeSpan.FromMilliseconds(2);

    /// <summary>A segment file is closed and a new one started past this size. Default 64 MiB.</summary>
    public long SegmentBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>
    /// Retention: the oldest segments are deleted while the journal is larger than this
    /// (the segment being written is never deleted). Default 1 GiB.
    /// </summary>
    public long MaxTotalBytes { get; set; } = 1024L * 1024 * 1024;

    /// <summary>The largest payload of one record. Default 1 MiB; a longer one is refused.</summary>
    public int MaxRecordBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// Bytes of records accepted and not yet committed, at most. Past it
    /// <see cref="Journal.TryAppend"/> refuses and <see cref="Journal.WaitForRoomAsync"/> waits:
    /// a disk slower than the producers pushes back instead of growing memory. Default 8 MiB.
    /// </summary>
    public int MaxPendingBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>
    /// Open even when the journal is damaged in a way that loses records which may have been
    /// acknowledged (a corrupt record mid-segment, a missing segment): what can be read is kept,
    /// the damage is logged at error, and new ids start past anything that may have been handed
    /// out. Default false: <see cref="Journal.Open"/> throws <see cref="JournalDamagedException"/>
    /// and changes nothing, so an operator looks first (<c>parley journal verify</c>, <c>repair</c>).
    /// </summary>
    public bool AcceptDamage { get; set; }

    /// <summary>Ids reserved in the high-water mark at a time (tests make it small to see it move).</summary>
    internal long IdReserveBlock { get; set; } = HighWaterMark.ReserveBlock;

    /// <summary>
    /// After a write fails (disk full, file too large, I/O error, read-only file system), the
    /// records of that batch are refused and the journal waits this long before it tries the
    /// disk again; records appended meanwhile are refused at once. Each further failure doubles
    /// the wait, up to <see cref="MaxWriteRetryDelay"/>; a write that succeeds resets it.
    /// Default 100 ms: a disk that comes back is used again almost at once.
    /// </summary>
    public TimeSpan WriteRetryDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// The longest wait between tries of a failing disk. Default 5 s: a server whose disk was
    /// full stores messages again within seconds of space being freed, and a disk that stays
    /// broken is tried (and its failure logged) at most every few seconds.
    /// </summary>
    public TimeSpan MaxWriteRetryDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The write path's file operations; tests replace them to inject disk faults.</summary>
    internal JournalStorage Storage { get; set; } = JournalStorage.Default;

    /// <summary>Where timestamps and the retry waits of a failing disk come from. Default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Logs recovery (truncated tails), retention and disk faults. Default: none.</summary>
    public ILoggerFactory LoggerFactory { get; set; } = NullLoggerFactory.Instance;

    /// <summary>Throws when a setting is out of range.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Directory))
        {
            throw new ArgumentException("JournalOptions.Directory is required.", nameof(Directory));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(SegmentBytes, 4096, nameof(SegmentBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxTotalBytes, SegmentBytes, nameof(MaxTotalBytes));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxRecordBytes, nameof(MaxRecordBytes));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxRecordBytes, 64 * 1024 * 1024, nameof(MaxRecordBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPendingBytes, MaxRecordBytes + JournalFormat.RecordOverhead, nameof(MaxPendingBytes));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(WriteRetryDelay, TimeSpan.Zero, nameof(WriteRetryDelay));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxWriteRetryDelay, WriteRetryDelay, nameof(MaxWriteRetryDelay));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxWriteRetryDelay, TimeSpan.FromMinutes(1), nameof(MaxWriteRetryDelay));
        ArgumentOutOfRangeException.ThrowIfNegative(BatchInterval.Ticks, nameof(BatchInterval));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(BatchInterval, TimeSpan.FromSeconds(1), nameof(BatchInterval));
    }
}
