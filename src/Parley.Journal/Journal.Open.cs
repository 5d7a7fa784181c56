namespace Parley.Journal;

public sealed partial class Journal
{
    /// <summary>A record replayed during <see cref="Open"/>; its payload is valid only during the call.</summary>
    public delegate void ReplayCallback(in JournalRecord record);

    /// <summary>
    /// Opens (or creates) the journal in <see cref="JournalOptions.Directory"/>: scans every
    /// segment, replays each valid record to <paramref name="replay"/> in id order, and starts the
    /// writer. Damage is skipped record by record, never by deleting what follows it; each
    /// anomaly is logged at warning with what was kept and what was set aside. Damage that
    /// loses records which may have been acknowledged refuses to open (nothing changed on disk)
    /// unless <see cref="JournalOptions.AcceptDamage"/>. A torn tail of the newest segment is cut
    /// off, its bytes kept in a <c>.tail-OFFSET</c> file; unreadable segments are renamed
    /// <c>.corrupt</c> (or <c>.duplicate</c>). When the newest records may be lost, new ids start
    /// past the high-water mark in a new segment, so no id is ever handed out twice.
    /// </summary>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    /// <exception cref="JournalDamagedException">Acknowledged records may be lost and damage was not accepted.</exception>
    /// <exception cref="IOException">The folder cannot be read or written.</exception>
    public static Journal Open(JournalOptions options, ReplayCallback? replay = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        RefuseInterruptedRepair(options.Directory);
        JournalFiles.CreateDirectory(options.Directory);
        FileStream directoryLock = LockDirectory(options.Directory);
        try
        {
            return OpenLocked(options, replay, directoryLock);
        }
        catch
        {
            directoryLock.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A repair moves the journal aside and its rewrite into place; a crash between the two
    /// leaves no journal folder, and creating a fresh one would start ids at 1 again.
    /// </summary>
    private static void RefuseInterruptedRepair(string directory)
    {
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory));
        string? parent = Path.GetDirectoryName(full);
        if (Directory.Exists(full) || parent is null || !Directory.Exists(parent))
        {
            return;
        }

        string[] staged = Directory.GetDirectories(parent, Path.GetFileName(full) + ".repairing-*");
        if (staged.Length > 0)
        {
            throw new IOException($"There is no journal at '{full}' but a repair was interrupted: '{staged[0]}' holds the rewritten journal (rename it to '{full}'), and the original is beside it as {Path.GetFileName(full)}.damaged-*.");
        }
    }

    /// <summary>One writer per folder: a second process (or journal) appending to the same segments would corrupt them.</summary>
    private static FileStream LockDirectory(string directory)
    {
        string path = Path.Combine(directory, "LOCK");
        try
        {
            // FileShare.None takes an exclusive lock (flock on Unix) for as long as the stream is open.
            return new FileStream(path, JournalFiles.Options(FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
        }
        catch (IOException ex)
        {
            throw new IOException($"The journal in '{directory}' is in use by another process (could not lock {path}).", ex);
        }
    }

    private static Journal OpenLocked(JournalOptions options, ReplayCallback? replay, FileStream directoryLock)
    {
        var logger = Microsoft.Extensions.Logging.LoggerFactoryExtensions.CreateLogger<Journal>(options.LoggerFactory);
        string directory = options.Directory;
        JournalFiles.WarnIfOpen(logger, directory);

        // Read everything first and change nothing until it is known what is wrong.
        var scan = new JournalScan(directory, options.MaxRecordBytes, options.MaxPendingBytes + (2L * (options.MaxRecordBytes + JournalFormat.RecordOverhead)));
        foreach (JournalRecord record in scan.Read())
        {
            replay?.Invoke(record);
        }

        HashSet<string> accepted = AcceptedDamage.Read(directory);
        if (scan.Problems.Any(p => p.LosesData && !accepted.Contains(AcceptedDamage.Key(p))) && !options.AcceptDamage)
        {
            throw new JournalDamagedException(directory, scan.Problems);
        }

        AcceptedDamage.Add(directory, accepted, scan.Problems.Where(p => p.LosesData));
        foreach (JournalProblem problem in scan.Problems)
        {
            if (problem.LosesData)
            {
                Log.DamageAccepted(logger, problem.ToString());
            }
            else
            {
                Log.Anomaly(logger, problem.ToString());
            }
        }

        bool changed = false;
        var segments = new List<Segment>();
        foreach (JournalScan.SegmentInfo info in scan.Segments)
        {
            if (info.Empty)
            {
                string aside = info.Path + (info.DuplicateRecords > 0 ? ".duplicate" : ".corrupt");
                File.Move(info.Path, aside, overwrite: true);
                Log.SetAside(logger, info.Path, aside);
                changed = true;
                continue;
            }

            segments.Add(new Segment(info.Id, info.Path, info.FileLength));
        }

        JournalScan.SegmentInfo? tail = scan.Segments.LastOrDefault(s => !s.Empty);
        if (tail is { HasBadTail: true, Appendable: true } && tail == scan.Segments[^1]
            && scan.Problems.Any(p => p.Kind == JournalProblemKind.TornTail && p.Path == tail.Path))
        {
            CutTail(logger, tail);
            segments[^1].Length = tail.ValidLength;
        }

        // Go on in the newest segment only when nothing says ids past its end may have been handed
        // out; else start a new segment past the high-water mark, so no id is ever used twice.
        bool appendToTail = tail is { Appendable: true, HasBadTail: false, DuplicateRecords: 0 } && tail == scan.Segments.Last(s => !s.Empty) && !scan.DamagedEnd && !scan.Unclean;
        long lastId = scan.LastId;
        if (appendToTail && tail!.Records == 0)
        {
            lastId = Math.Max(lastId, tail.Id - 1); // a segment started past a gap, nothing in it yet
        }
        else if (!appendToTail)
        {
            lastId = scan.HandedOutThrough; // also when every segment is gone: the mark still knows
        }

        FileStream active;
        long activeLength;
        if (appendToTail)
        {
            Segment last = segments[^1];
            active = new FileStream(last.Path, FileMode.Open, FileAccess.Write, FileShare.Read | FileShare.Delete, bufferSize: 0);
            active.Seek(last.Length, SeekOrigin.Begin);
            activeLength = last.Length;
        }
        else
        {
            string path = Path.Combine(directory, JournalFormat.SegmentFileName(lastId + 1));
            active = CreateSegment(path, lastId + 1, scan.LastId);
            activeLength = JournalFormat.SegmentHeaderSize;
            segments.Add(new Segment(lastId + 1, path, activeLength));
            changed = true;
            if (lastId > scan.LastId)
            {
                Log.IdsSkipped(logger, directory, scan.LastId, lastId + 1);
            }
        }

        try
        {
            if (changed)
            {
                DirectorySync.Sync(directory);
            }

            var mark = new HighWaterMark(
                Math.Max(scan.MarkStatus == HighWaterMark.ReadStatus.Ok ? scan.Mark.ReservedThrough : 0, lastId + options.IdReserveBlock),
                segments[0].FirstId,
                segments[^1].FirstId);
            mark.Write(directory);
            Log.Opened(logger, directory, segments.Count, scan.Records, scan.FirstId, scan.LastId, lastId + 1, options.Durability);
            return new Journal(options, segments, lastId, active, activeLength, directoryLock, mark);
        }
        catch
        {
            active.Dispose();
            throw;
        }
    }

    /// <summary>Cuts a torn tail off the newest segment, keeping the cut bytes beside it.</summary>
    private static void CutTail(Microsoft.Extensions.Logging.ILogger logger, JournalScan.SegmentInfo tail)
    {
        string aside = $"{tail.Path}.tail-{tail.ValidLength}";
        using (var file = new FileStream(tail.Path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read))
        {
            using (var copy = new FileStream(aside, JournalFiles.Options(FileMode.Create, FileAccess.Write, FileShare.None)))
            {
                file.Seek(tail.ValidLength, SeekOrigin.Begin);
                file.CopyTo(copy);
                copy.Flush(flushToDisk: true);
            }

            DirectorySync.Sync(Path.GetDirectoryName(Path.GetFullPath(tail.Path))!); // the copy's name is durable before the cut

            file.SetLength(tail.ValidLength);
            file.Flush(flushToDisk: true);
        }

        Log.TailCut(logger, tail.Path, tail.ValidLength, tail.FileLength - tail.ValidLength, aside);
    }
}
