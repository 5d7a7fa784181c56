using System.Diagnostics.Metrics;

namespace Parley.Journal;

/// <summary>
/// The journal's instruments, on the meter named <see cref="MeterName"/>
/// (<c>dotnet-counters monitor --counters Parley.Journal</c>, or a <see cref="MeterListener"/>).
/// Alert on <c>parley.journal.failing</c> above 0: records are being refused because the disk
/// cannot take them. Every measurement is tagged <see cref="DirectoryTag"/>.
/// </summary>
public static class JournalMetrics
{
    /// <summary>The meter name.</summary>
    public const string MeterName = "Parley.Journal";

    /// <summary>The tag every measurement carries: the journal's folder (a process may hold several journals).</summary>
    public const string DirectoryTag = "parley.journal.directory";

    private static readonly Meter Meter = new(MeterName);

    /// <summary>How long each batch took to write and (by its durability) flush to disk, in seconds.</summary>
    public static readonly Histogram<double> CommitDuration =
        Meter.CreateHistogram<double>("parley.journal.commit.duration", "s", "Time to write and flush one batch of records.");

    /// <summary>Records committed (stored as the durability setting says).</summary>
    public static readonly Counter<long> RecordsCommitted =
        Meter.CreateCounter<long>("parley.journal.records.committed", "{record}", "Records committed to the journal.");

    /// <summary>Journals whose writes are failing now: 1 from a failed write until one succeeds (or the journal closes).</summary>
    public static readonly UpDownCounter<long> Failing =
        Meter.CreateUpDownCounter<long>("parley.journal.failing", "{journal}", "Journals whose writes are failing now.");

    /// <summary>Write attempts that failed, tagged <c>error.type</c> with the exception's type.</summary>
    public static readonly Counter<long> WriteFailures =
        Meter.CreateCounter<long>("parley.journal.write.failures", "{attempt}", "Journal write attempts that failed (disk full, file too large, I/O error, read-only).");

    /// <summary>Records refused (their commit callback got an error) because the journal could not write them.</summary>
    public static readonly Counter<long> RecordsRefused =
        Meter.CreateCounter<long>("parley.journal.records.refused", "{record}", "Records refused because the journal could not write them.");
}
