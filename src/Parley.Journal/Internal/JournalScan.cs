using System.Globalization;

namespace Parley.Journal;

/// <summary>
/// Reads a whole journal folder — every segment, in id order, and the <c>HIGHWATER</c> file —
/// yielding each valid record once, and says what is wrong with it, without changing anything.
/// <see cref="Journal.Open"/>, <see cref="JournalReader"/> and <c>parley journal verify</c> and
/// <c>repair</c> all read through it, so they agree on what is damage.
/// </summary>
internal sealed class JournalScan(string directory, int maxRecordBytes, long maxTornBytes = JournalScan.DefaultMaxTornBytes)
{
    /// <summary>The most bytes one write can leave unfinished at the end of the newest segment: one batch
    /// (<see cref="JournalOptions.MaxPendingBytes"/>, 8 MiB by default). More unreadable zeros than that are damage.</summary>
    public const long DefaultMaxTornBytes = 8L * 1024 * 1024;

    private readonly HashSet<long> _vanished = [];

    /// <summary>What one segment file turned out to hold.</summary>
    public sealed class SegmentInfo
    {
        public required string Path { get; init; }

        /// <summary>The id the segment is known by: its checked header's first id, else its name's, else its first record's.</summary>
        public long Id { get; set; }

        public JournalFormat.HeaderStatus Header { get; set; }

        public long FirstRecordId { get; set; }

        /// <summary>The last id read from it; 0 when none.</summary>
        public long LastId { get; set; }

        public long Records { get; set; }

        /// <summary>The id the file's name gives; 0 when it is not a name the journal writes.</summary>
        public long NameId { get; set; }

        public long DuplicateRecords { get; set; }

        public long ValidLength { get; set; }

        public long FileLength { get; set; }

        /// <summary>It ends in bytes that are not a valid record.</summary>
        public bool HasBadTail { get; set; }

        /// <summary>Where its records start (the header's size).</summary>
        public bool Appendable => Header is JournalFormat.HeaderStatus.Ok or JournalFormat.HeaderStatus.Version1;

        /// <summary>Nothing new can be read from it and nothing can be appended to it: it is set aside at open.
        /// (A segment with a valid header and no records yet is not: it was just started.)</summary>
        public bool Empty => Records == 0 && (!Appendable || DuplicateRecords > 0);
    }

    public List<SegmentInfo> Segments { get; } = [];

    public List<JournalProblem> Problems { get; } = [];

    /// <summary>The highest id read.</summary>
    public long LastId { get; private set; }

    /// <summary>The lowest id read; 0 when none.</summary>
    public long FirstId { get; private set; }

    public long Records { get; private set; }

    public HighWaterMark.ReadStatus MarkStatus { get; private set; }

    public HighWaterMark Mark { get; private set; }

    /// <summary>True once <see cref="Read"/> has been enumerated to its end.</summary>
    public bool Complete { get; private set; }

    /// <summary>Some damage loses records that may have been acknowledged.</summary>
    public bool LosesData => Problems.Any(p => p.LosesData);

    /// <summary>
    /// Ids past the newest record read may have been handed out: its tail was torn, a segment it
    /// wrote is missing or unreadable, or the high-water mark that would tell is damaged.
    /// </summary>
    public bool DamagedEnd => Problems.Any(p => p.Kind is JournalProblemKind.TornTail or JournalProblemKind.MissingSegment
        || (p.Kind == JournalProblemKind.CorruptRecords && p.LastId == 0 && p.LosesData)
        || (p.Kind == JournalProblemKind.UnreadableSegment && p.LosesData)
        || (p.Kind == JournalProblemKind.HighWaterMark && MarkStatus == HighWaterMark.ReadStatus.Damaged));

    /// <summary>
    /// The id the journal had reached: the highest id read, or more when the newest segment was
    /// started past a gap and holds nothing yet (its header says where ids went on).
    /// </summary>
    public long EndId => Math.Max(LastId, Segments.Where(s => s.Records == 0 && s.Appendable && s.DuplicateRecords == 0).Select(s => s.Id - 1).DefaultIfEmpty(0).Max());

    /// <summary>The journal was not closed cleanly at <see cref="EndId"/> (it crashed, or is open now): with durability
    /// None acknowledged records may be lost at a clean record boundary, so ids past the end may have been handed out.</summary>
    public bool Unclean => MarkStatus == HighWaterMark.ReadStatus.Ok && Mark.CleanThrough != EndId;

    /// <summary>The highest id that may have been handed out, as far as the folder can tell: new ids start after it
    /// when <see cref="DamagedEnd"/> or <see cref="Unclean"/>. Never below a segment's name, so a new segment's name is new.</summary>
    public long HandedOutThrough => Math.Max(
        Math.Max(EndId, _vanished.Concat(Segments.Where(s => !s.Empty).Select(s => s.NameId)).DefaultIfEmpty(0).Max()),
        MarkStatus switch
        {
            HighWaterMark.ReadStatus.Ok => Mark.ReservedThrough,
            HighWaterMark.ReadStatus.Damaged => LastId + HighWaterMark.ReserveBlock,
            _ => LastId,
        });

    /// <summary>The segment files of a folder, in id order (see <see cref="Read"/>).</summary>
    public static string[] SegmentPaths(string directory)
    {
        // By first id; of two files claiming the same, the one whose name agrees with its header first.
        return [.. System.IO.Directory.GetFiles(directory, "*" + JournalFormat.SegmentExtension)
            .Select(path => (Path: path, Key: OrderKey(path, out bool nameAgrees), NameAgrees: nameAgrees))
            .OrderBy(s => s.Key).ThenBy(s => s.NameAgrees ? 0 : 1).ThenBy(s => s.Path, StringComparer.Ordinal)
            .Select(s => s.Path)];
    }

    /// <summary>
    /// Every valid record not read before, in the order of the segments, each once. The payload is
    /// valid until the next record. <see cref="Problems"/> is complete when the enumeration ends.
    /// </summary>
    public IEnumerable<JournalRecord> Read()
    {
        // The folder first, then the mark: a writer moves the mark before retention deletes a
        // segment and after a roll creates one, so a live journal read in this order never looks
        // as if a segment the mark names were missing.
        string[] paths = SegmentPaths(directory);
        MarkStatus = HighWaterMark.TryRead(directory, out HighWaterMark mark);
        Mark = mark;
        for (int i = 0; i < paths.Length; i++)
        {
            using SegmentScanner? scanner = Open(paths[i]);
            if (scanner is null)
            {
                _vanished.Add(JournalFormat.FirstIdFromName(paths[i])); // deleted by retention since it was listed
                continue;
            }

            long before = LastId;
            scanner.ReadHeader(before);
            while (scanner.TryReadNext(out long id, out long micros, out ReadOnlyMemory<byte> payload))
            {
                if (FirstId == 0)
                {
                    FirstId = id;
                }

                LastId = id;
                Records++;
                yield return new JournalRecord(id, JournalFormat.FromMicros(micros), payload);
            }

            Examine(scanner, before, last: i == paths.Length - 1);
        }

        CheckAgainstMark();
        Complete = true;
    }

    private SegmentScanner? Open(string path)
    {
        try
        {
            return new SegmentScanner(path, maxRecordBytes);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
    }

    private void Examine(SegmentScanner scanner, long before, bool last)
    {
        var info = new SegmentInfo
        {
            Path = scanner.Path,
            Header = scanner.Header,
            FirstRecordId = scanner.FirstRecordId,
            LastId = scanner.Records > 0 ? scanner.LastId : 0,
            Records = scanner.Records,
            DuplicateRecords = scanner.Duplicates.Sum(d => d.LastId - d.FirstId + 1),
            ValidLength = scanner.ValidLength,
            FileLength = scanner.FileLength,
            HasBadTail = scanner.HasBadTail,
            NameId = scanner.NameFirstId,
        };
        info.Id = scanner.Header == JournalFormat.HeaderStatus.Ok ? scanner.HeaderFirstId
            : scanner.NameFirstId > 0 ? scanner.NameFirstId
            : scanner.Header == JournalFormat.HeaderStatus.Version1 ? scanner.HeaderFirstId
            : scanner.FirstRecordId;
        Segments.Add(info);
        string path = scanner.Path;

        if (!info.Appendable)
        {
            if (info.Records > 0 || info.DuplicateRecords > 0)
            {
                Add(JournalProblemKind.DamagedHeader, path, 0, Math.Min(info.FileLength, JournalFormat.SegmentHeaderSize), 0, 0, false,
                    "the segment header is damaged; its records were read by their own checksums");
            }
            else
            {
                // A file shorter than a header that nobody recorded as created is a roll cut
                // short by a crash: nothing was ever written into it.
                bool rollCutShort = last && info.FileLength <= JournalFormat.SegmentHeaderSize
                    && (MarkStatus != HighWaterMark.ReadStatus.Ok || scanner.NameFirstId > Mark.LastSegmentId);
                Add(JournalProblemKind.UnreadableSegment, path, 0, info.FileLength, 0, 0, !rollCutShort,
                    rollCutShort
                        ? $"a segment created as the journal crashed ({info.FileLength} bytes, no records); it is set aside as .corrupt"
                        : $"no record can be read from this file ({info.FileLength} bytes; header {Describe(scanner.Header)}); it is set aside as .corrupt and whatever it held is lost");
                return;
            }
        }
        else if (scanner.Header == JournalFormat.HeaderStatus.Ok && scanner.NameFirstId > 0 && scanner.NameFirstId != scanner.HeaderFirstId)
        {
            Add(JournalProblemKind.DamagedHeader, path, 0, JournalFormat.SegmentHeaderSize, 0, 0, false,
                $"the file's name says it starts at id {scanner.NameFirstId} but its header says {scanner.HeaderFirstId} (renamed or copied?); read by its contents");
        }

        // Ids missing before the segment's first record: between segments, a lost segment or a lost end of the one before.
        if (info.Records > 0 && before > 0)
        {
            long expectedPrevious = scanner.Header == JournalFormat.HeaderStatus.Ok ? Math.Min(scanner.HeaderPreviousId, info.FirstRecordId - 1) : info.FirstRecordId - 1;
            if (expectedPrevious > before)
            {
                Add(JournalProblemKind.MissingRecords, path, 0, 0, before + 1, expectedPrevious, true,
                    "records between the previous segment and this one are missing (a segment deleted, or the end of the one before lost)");
            }
        }

        foreach (SegmentScanner.Skip skip in scanner.Skips)
        {
            if (skip.IdAfter == 0)
            {
                if (last && (skip.TornShape || (skip.Zeros && skip.Length <= maxTornBytes)))
                {
                    Add(JournalProblemKind.TornTail, path, skip.Offset, skip.Length, 0, 0, false,
                        "the newest segment ends in an incomplete or damaged record (a write cut short); it is cut off and kept in a .tail file");
                }
                else if (last)
                {
                    // Whole records that fail their checksums, or more zeros than one write leaves: the
                    // newest records were written and are damaged, not cut short by a crash.
                    Add(JournalProblemKind.CorruptRecords, path, skip.Offset, skip.Length, skip.IdBefore + 1, 0, true,
                        "the newest segment ends in damaged records (not a write cut short); they are lost and the file is left as it is");
                }
                else
                {
                    Add(JournalProblemKind.CorruptRecords, path, skip.Offset, skip.Length, 0, 0, false,
                        "an older segment ends in bytes that are not valid records; skipped (what they held is counted as missing records at the next segment)");
                }

                continue;
            }

            // Before a segment's first record, the ids it starts after come from its checked header,
            // else its name; in the first segment read, anything before is retention's, not lost.
            long firstLost = !skip.BeforeFirstRecord ? skip.IdBefore + 1
                : scanner.Header == JournalFormat.HeaderStatus.Ok ? Math.Max(skip.IdBefore, scanner.HeaderPreviousId) + 1
                : scanner.NameFirstId > skip.IdBefore ? scanner.NameFirstId
                : skip.IdBefore > 0 ? skip.IdBefore + 1
                : skip.IdAfter;
            bool lost = skip.IdAfter > firstLost;
            Add(JournalProblemKind.CorruptRecords, path, skip.Offset, skip.Length, lost ? firstLost : 0, lost ? skip.IdAfter - 1 : 0, lost,
                lost ? "damaged records skipped; reading went on at the next valid record" : "bytes that are not records skipped (no id is missing)");
        }

        foreach ((long first, long lastMissing) in scanner.Gaps)
        {
            Add(JournalProblemKind.MissingRecords, path, 0, 0, first, lastMissing, true, "ids missing inside the segment");
        }

        foreach (SegmentScanner.Duplicate duplicate in scanner.Duplicates)
        {
            Add(JournalProblemKind.DuplicateRecords, path, duplicate.Offset, duplicate.Length, duplicate.FirstId, duplicate.LastId, false,
                info.Records == 0 ? "the whole segment repeats records read before; it is set aside as .duplicate" : "records repeated from before; skipped");
        }
    }

    private void CheckAgainstMark()
    {
        if (MarkStatus == HighWaterMark.ReadStatus.Damaged)
        {
            Add(JournalProblemKind.HighWaterMark, HighWaterMark.PathOf(directory), 0, 0, 0, 0, false,
                "the high-water mark is damaged: a lost newest segment would go unnoticed, so new ids start a reserve block higher");
            return;
        }

        if (MarkStatus == HighWaterMark.ReadStatus.Missing)
        {
            if (Segments.Count > 0)
            {
                Add(JournalProblemKind.HighWaterMark, HighWaterMark.PathOf(directory), 0, 0, 0, 0, false,
                    "no high-water mark (a journal from an older version, or the file was deleted); one is written now");
            }

            return;
        }

        SegmentInfo[] readable = [.. Segments.Where(s => !s.Empty)];
        long oldest = readable.Length > 0 ? readable[0].Id : 0;
        long firstRecord = readable.FirstOrDefault(s => s.Records > 0)?.FirstRecordId ?? 0;
        long newest = Segments.Count > 0 ? Segments.Max(s => s.Id) : 0;
        if (Mark.FirstSegmentId > 0 && (oldest == 0 || oldest > Mark.FirstSegmentId) && Segments.All(s => s.Id != Mark.FirstSegmentId)
            && !_vanished.Contains(Mark.FirstSegmentId))
        {
            long lastLost = firstRecord > 0 ? firstRecord - 1 : 0;
            Add(JournalProblemKind.MissingSegment, System.IO.Path.Combine(directory, JournalFormat.SegmentFileName(Mark.FirstSegmentId)), 0, 0,
                Mark.FirstSegmentId, lastLost >= Mark.FirstSegmentId ? lastLost : 0, true, "the oldest segment is missing (retention did not delete it)");
        }

        if (Mark.LastSegmentId > 0 && newest < Mark.LastSegmentId)
        {
            Add(JournalProblemKind.MissingSegment, System.IO.Path.Combine(directory, JournalFormat.SegmentFileName(Mark.LastSegmentId)), 0, 0,
                Math.Max(LastId + 1, Mark.LastSegmentId), 0, true,
                $"the newest segment is missing; its records are lost (new ids start after {Mark.ReservedThrough.ToString(CultureInfo.InvariantCulture)}, the high-water mark, so none is reused)");
        }
    }

    private void Add(JournalProblemKind kind, string path, long offset, long length, long firstId, long lastId, bool losesData, string detail) =>
        Problems.Add(new JournalProblem(kind, path, offset, length, firstId, lastId, losesData, detail));

    private static string Describe(JournalFormat.HeaderStatus status) => status switch
    {
        JournalFormat.HeaderStatus.Incomplete => "incomplete",
        JournalFormat.HeaderStatus.Damaged => "damaged",
        _ => "valid",
    };

    /// <summary>A segment's place in id order: its checked header's first id, else its name's.</summary>
    private static long OrderKey(string path, out bool nameAgrees)
    {
        nameAgrees = false;
        Span<byte> header = stackalloc byte[JournalFormat.SegmentHeaderSize];
        int read;
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
            read = file.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
        }
        catch (FileNotFoundException)
        {
            return long.MaxValue; // deleted by retention while listed; the scan skips it
        }

        long nameId = JournalFormat.FirstIdFromName(path);
        JournalFormat.HeaderStatus status = JournalFormat.ReadSegmentHeader(header[..read], out long firstId, out _, out _);
        nameAgrees = status is JournalFormat.HeaderStatus.Ok or JournalFormat.HeaderStatus.Version1 && firstId == nameId;
        return status switch
        {
            JournalFormat.HeaderStatus.Ok => firstId,
            _ when nameId > 0 => nameId,
            JournalFormat.HeaderStatus.Version1 => firstId,
            _ => long.MaxValue,
        };
    }
}
