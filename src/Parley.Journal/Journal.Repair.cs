using System.Globalization;

namespace Parley.Journal;

/// <summary>What <see cref="Journal.Repair"/> did.</summary>
/// <param name="Repaired">False when the journal was clean and nothing was changed.</param>
/// <param name="BackupDirectory">Where the original folder was moved, untouched; null when nothing was changed.</param>
/// <param name="Records">Records in the rewritten journal.</param>
/// <param name="FirstId">Its lowest id; 0 when empty.</param>
/// <param name="LastId">Its highest id; 0 when empty.</param>
/// <param name="NextId">The id the next record appended will get.</param>
/// <param name="Problems">What was wrong with the original.</param>
public sealed record JournalRepairResult(bool Repaired, string? BackupDirectory, long Records, long FirstId, long LastId, long NextId, IReadOnlyList<JournalProblem> Problems);

public sealed partial class Journal
{
    /// <summary>
    /// Rewrites a damaged journal from what survives: every valid record once, with its id and
    /// timestamp, in fresh segments (a new segment wherever ids are missing, so the result reads
    /// clean), and a high-water mark past every id the original may have handed out. The
    /// original folder is kept, untouched, beside it as <c>FOLDER.damaged-TIMESTAMP</c>. A clean
    /// journal is left as it is. Refused while the journal is open (by this or another process).
    /// </summary>
    /// <param name="options">The journal's folder, segment size and record limit.</param>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="IOException">The journal is in use, or the new folder cannot be written.</exception>
    public static JournalRepairResult Repair(JournalOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        string directory = Path.TrimEndingDirectorySeparator(Path.GetFullPath(options.Directory));
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"No journal at '{directory}'.");
        }

        string stamp = options.TimeProvider.GetUtcNow().ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        string staging = directory + ".repairing-" + stamp;
        string backup = directory + ".damaged-" + stamp;
        var scan = new JournalScan(directory, options.MaxRecordBytes);
        long nextId;
        using (FileStream directoryLock = LockDirectory(directory))
        {
            JournalFiles.CreateDirectory(staging);
            try
            {
                using (var writer = new RepairWriter(staging, options.SegmentBytes, options.IdReserveBlock))
                {
                    foreach (JournalRecord record in scan.Read())
                    {
                        writer.Append(record);
                    }

                    if (scan.Problems.Count == 0)
                    {
                        writer.Dispose();
                        Directory.Delete(staging, recursive: true);
                        return new JournalRepairResult(false, null, scan.Records, scan.FirstId, scan.LastId, scan.LastId + 1, scan.Problems);
                    }

                    // Past every id the damaged journal may have handed out (its reservation), never below it.
                    long handedOut = scan.HandedOutThrough;
                    writer.Finish(handedOut);
                    nextId = handedOut + 1;
                }

                DirectorySync.Sync(staging);
            }
            catch
            {
                Directory.Delete(staging, recursive: true);
                throw;
            }
        }

        Directory.Move(directory, backup);
        Directory.Move(staging, directory);
        DirectorySync.Sync(Path.GetDirectoryName(directory)!);
        return new JournalRepairResult(true, backup, scan.Records, scan.FirstId, scan.LastId, nextId, scan.Problems);
    }

    /// <summary>Writes records with their own ids into new segments.</summary>
    private sealed class RepairWriter(string directory, long segmentBytes, long reserveBlock) : IDisposable
    {
        private readonly List<long> _segments = [];
        private FileStream? _file;
        private long _length;
        private long _lastId;
        private byte[] _buffer = new byte[64 * 1024];

        public void Append(in JournalRecord record)
        {
            int size = JournalFormat.RecordOverhead + record.Payload.Length;
            if (_file is null || record.Id != _lastId + 1 || (_length > JournalFormat.SegmentHeaderSize && _length + size > segmentBytes))
            {
                Start(record.Id, _lastId);
            }

            if (_buffer.Length < size)
            {
                _buffer = new byte[size];
            }

            JournalFormat.WriteRecord(_buffer, record.Id, JournalFormat.ToMicros(record.Timestamp), record.Payload.Span);
            _file!.Write(_buffer, 0, size);
            _length += size;
            _lastId = record.Id;
        }

        /// <summary>Ends the journal: when ids up to <paramref name="handedOut"/> may have been used, an empty
        /// segment starts after them; then the high-water mark.</summary>
        public void Finish(long handedOut)
        {
            if (_file is null || handedOut > _lastId)
            {
                Start(handedOut + 1, _lastId);
            }
            else
            {
                handedOut = _lastId;
            }

            Close();
            new HighWaterMark(handedOut + reserveBlock, _segments[0], _segments[^1], CleanThrough: handedOut).Write(directory);
        }

        private void Start(long firstId, long previousId)
        {
            Close();
            _file = CreateSegment(Path.Combine(directory, JournalFormat.SegmentFileName(firstId)), firstId, previousId);
            _length = JournalFormat.SegmentHeaderSize;
            _segments.Add(firstId);
        }

        private void Close()
        {
            if (_file is not null)
            {
                _file.Flush(flushToDisk: true);
                _file.Dispose();
                _file = null;
            }
        }

        public void Dispose() => _file?.Dispose();
    }
}
