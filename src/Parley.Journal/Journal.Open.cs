namespace Parley.Journal;

public sealed partial class Journal
{
    /// <summary>A record replayed during <see cref="Open"/>; its payload is valid only during the call.</summary>
    public delegate void ReplayCallback(in JournalRecord record);

    /// <summary>
    /// Opens (or creates) the journal in <see cref="JournalOptions.Directory"/>: scans every
    /// segment, truncates a torn or corrupt tail (logged as a warning), replays each valid
    /// record to <paramref name="replay"/> in id order, and starts the writer.
    /// </summary>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    /// <exception cref="IOException">The folder cannot be read or written.</exception>
    public static Journal Open(JournalOptions options, ReplayCallback? replay = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
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
        JournalFiles.WarnIfOpen(logger, options.Directory);
        var segments = new List<Segment>();
        long lastId = 0;
        string[] paths = JournalReader.Segments(options.Directory);
        for (int i = 0; i < paths.Length; i++)
        {
            string path = paths[i];
            bool last = i == paths.Length - 1;
            long validLength;
            long fileLength;
            long firstId;
            using (var scanner = new SegmentScanner(path, options.MaxRecordBytes))
            {
                fileLength = scanner.FileLength;
                if (!scanner.ReadHeader())
                {
                    // A segment whose header never reached the disk: a crash during a roll.
                    Log.SegmentDiscarded(logger, path, scanner.Problem!, fileLength);
                    scanner.Dispose();
                    File.Move(path, path + ".corrupt", overwrite: true);
                    continue;
                }

                firstId = scanner.FirstId;
                if (firstId <= lastId)
                {
                    Log.SegmentDiscarded(logger, path, $"first id {firstId} is not after {lastId}", fileLength);
                    scanner.Dispose();
                    File.Move(path, path + ".corrupt", overwrite: true);
                    continue;
                }

                while (scanner.TryReadNext(out long id, out long micros, out ReadOnlyMemory<byte> payload))
                {
                    replay?.Invoke(new JournalRecord(id, JournalFormat.FromMicros(micros), payload));
                }

                validLength = scanner.ValidLength;
                lastId = scanner.LastId;
                if (scanner.Problem is { } problem)
                {
                    if (last)
                    {
                        Log.TailTruncated(logger, path, validLength, fileLength - validLength, problem);
                    }
                    else
                    {
                        Log.MiddleTruncated(logger, path, validLength, fileLength - validLength, problem);
                    }
                }
            }

            if (validLength < fileLength)
            {
                using var file = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.Read);
                file.SetLength(validLength);
                file.Flush(flushToDisk: true);
            }

            segments.Add(new Segment(firstId, path, validLength));
        }

        FileStream active;
        long activeLength;
        if (segments.Count == 0)
        {
            string path = Path.Combine(options.Directory, JournalFormat.SegmentFileName(lastId + 1));
            active = CreateSegment(path, lastId + 1);
            activeLength = JournalFormat.SegmentHeaderSize;
            segments.Add(new Segment(lastId + 1, path, activeLength));
        }
        else
        {
            Segment tail = segments[^1];
            active = new FileStream(tail.Path, FileMode.Open, FileAccess.Write, FileShare.Read | FileShare.Delete, bufferSize: 0);
            active.Seek(tail.Length, SeekOrigin.Begin);
            activeLength = tail.Length;
        }

        Log.Opened(logger, options.Directory, segments.Count, lastId, options.Durability);
        return new Journal(options, segments, lastId, active, activeLength, directoryLock);
    }
}
