using Microsoft.Win32.SafeHandles;
using Parley.Journal.Internal;

namespace Parley.Journal;

public sealed partial class Journal
{
    private readonly Lock _readLock = new();
    private readonly Dictionary<long, SegmentIndex> _indexes = [];

    /// <summary>The lowest id the journal may still keep: the first id of its oldest segment
    /// (retention deletes whole segments, oldest first). Lock-free.</summary>
    public long FirstRetainedId => Volatile.Read(ref _firstRetainedId);

    /// <summary>The memory the indexes for <see cref="Read"/> hold, in bytes.</summary>
    public long ReadIndexBytes
    {
        get
        {
            lock (_readLock)
            {
                return _indexes.Values.Sum(i => i.HeldBytes);
            }
        }
    }

    /// <summary>
    /// Reads committed records by id, while the journal goes on appending: calls
    /// <paramref name="found"/> for each record of <paramref name="ids"/> (ascending) that is
    /// still kept, in that order; the record's payload is valid during the call only. Ids not
    /// committed yet, deleted by retention, or in damage accepted at open are skipped.
    /// </summary>
    /// <remarks>
    /// A record is found through a sparse index of its segment (built on the segment's first
    /// read, by one pass over it with the open's own scanner, so exactly the records the open
    /// replayed are found) and read from the file with positioned reads: about 16 KiB read per
    /// id, less when ids are close together. Synchronous disk reads; one call at a time
    /// (calls wait for each other), so callers bound how often they read.
    /// </remarks>
    /// <returns>How many records were found.</returns>
    /// <exception cref="ArgumentException"><paramref name="ids"/> is not ascending.</exception>
    /// <exception cref="IOException">A segment could not be read.</exception>
    public int Read(ReadOnlySpan<long> ids, ReplayCallback found)
    {
        ArgumentNullException.ThrowIfNull(found);
        for (int i = 1; i < ids.Length; i++)
        {
            if (ids[i] <= ids[i - 1])
            {
                throw new ArgumentException("The ids must be ascending, each once.", nameof(ids));
            }
        }

        // Which segments hold what, now; the writer may roll or delete segments meanwhile.
        (long FirstId, string Path, long Length)[] segments;
        long committed = Volatile.Read(ref _committedId);
        lock (_lock)
        {
            segments = [.. _segments.Select(s => (s.FirstId, s.Path, s.Length))];
        }

        int foundCount = 0;
        lock (_readLock)
        {
            ForgetDeletedSegments(segments);
            using var buffer = new RecordBuffer();
            SafeFileHandle? file = null;
            int fileSegment = -1;
            long position = 0; // where reading forward goes on in the open segment
            try
            {
                foreach (long id in ids)
                {
                    if (id > committed)
                    {
                        break;
                    }

                    int s = SegmentOf(segments, id);
                    if (s < 0)
                    {
                        continue; // older than anything kept
                    }

                    if (s != fileSegment)
                    {
                        buffer.Forget();
                        file?.Dispose();
                        file = OpenForReading(segments[s].Path);
                        fileSegment = s;
                        position = 0;
                        if (file is null)
                        {
                            continue; // deleted by retention since the snapshot
                        }
                    }

                    if (file is null)
                    {
                        continue;
                    }

                    long length = segments[s].Length;
                    if (!_indexes.TryGetValue(segments[s].FirstId, out SegmentIndex? index))
                    {
                        index = new SegmentIndex(segments[s].FirstId);
                        _indexes[segments[s].FirstId] = index;
                    }

                    if (index.LastId < id)
                    {
                        try
                        {
                            index.Extend(segments[s].Path, length, _options.MaxRecordBytes);
                        }
                        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
                        {
                            continue; // deleted by retention since the snapshot
                        }
                    }

                    if (index.LastId < id)
                    {
                        continue; // not in this segment (a gap, or damage accepted at open)
                    }

                    long start = index.StartFor(id);
                    if (position < start || position >= index.IndexedTo)
                    {
                        position = start;
                    }

                    // Read forward to it (the previous id's position is kept when it is on the way).
                    while (position < index.IndexedTo && buffer.TryRead(file, position, length, _options.MaxRecordBytes, out long at, out long micros, out ReadOnlyMemory<byte> payload, out int recordLength))
                    {
                        if (at > id)
                        {
                            break; // not there (a gap in the ids)
                        }

                        position += recordLength;
                        if (at == id)
                        {
                            found(new JournalRecord(at, JournalFormat.FromMicros(micros), payload));
                            foundCount++;
                            break;
                        }
                    }
                }
            }
            finally
            {
                file?.Dispose();
            }
        }

        return foundCount;
    }

    /// <summary>The index in <paramref name="segments"/> of the segment that would hold <paramref name="id"/>; -1 when none.</summary>
    private static int SegmentOf((long FirstId, string Path, long Length)[] segments, long id)
    {
        int lo = 0, hi = segments.Length - 1, result = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (segments[mid].FirstId <= id)
            {
                result = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return result;
    }

    private void ForgetDeletedSegments((long FirstId, string Path, long Length)[] segments)
    {
        if (_indexes.Count == 0)
        {
            return;
        }

        long oldest = segments.Length == 0 ? long.MaxValue : segments[0].FirstId;
        foreach (long first in _indexes.Keys.Where(k => k < oldest).ToList())
        {
            _indexes.Remove(first);
        }
    }

    private static SafeFileHandle? OpenForReading(string path)
    {
        try
        {
            return File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }
}
