using System.Diagnostics;

namespace Parley.Journal;

public sealed partial class Journal
{
    private void WriterLoop()
    {
        long lastFlush = 0;
        try
        {
            while (true)
            {
                lock (_lock)
                {
                    while (_pendingCommits.Count == 0 && !_closing)
                    {
                        Monitor.Wait(_lock);
                    }

                    if (_pendingCommits.Count == 0)
                    {
                        break; // Closing, and everything is committed.
                    }
                }

                // Batch: let records gather until BatchInterval has passed since the last flush.
                // An idle journal flushes the first record at once.
                if (_options.Durability == JournalDurability.Batch && lastFlush != 0)
                {
                    TimeSpan wait = _options.BatchInterval - Stopwatch.GetElapsedTime(lastFlush);
                    if (wait > TimeSpan.Zero)
                    {
                        Thread.Sleep(wait);
                    }
                }

                int length;
                lock (_lock)
                {
                    (_pending, _writing) = (_writing, _pending);
                    (_pendingCommits, _writingCommits) = (_writingCommits, _pendingCommits);
                    length = _pendingLength;
                    _pendingLength = 0;
                }

                Exception? error = null;
                try
                {
                    Write(_writing.AsSpan(0, length), _writingCommits[0].Entry.Id, _writingCommits[^1].Entry.Id);
                    lastFlush = Stopwatch.GetTimestamp();
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    error = new IOException("The journal could not write to disk.", ex);
                    Log.WriteFailed(_logger, _options.Directory, ex);
                }

                Complete(_writingCommits, error);
                _writingCommits.Clear();
                lock (_lock)
                {
                    _uncommittedBytes -= length;
                    if (error is not null)
                    {
                        _fault = error;
                    }

                    if (_roomWaiter is not null && (_uncommittedBytes < _options.MaxPendingBytes / 2 || _fault is not null))
                    {
                        _roomWaiter.TrySetResult();
                        _roomWaiter = null;
                    }

                    if (error is not null)
                    {
                        // Nothing more will be written: fail what is waiting and stop.
                        (_pendingCommits, _writingCommits) = (_writingCommits, _pendingCommits);
                        _pendingLength = 0;
                    }
                }

                if (_writing.Length > 4 * _pending.Length && _writing.Length > 1024 * 1024)
                {
                    _writing = new byte[_pending.Length]; // Give back a burst's buffer.
                }

                if (error is not null)
                {
                    Complete(_writingCommits, error);
                    _writingCommits.Clear();
                    break;
                }
            }
        }
        finally
        {
            _active.Dispose();
            _directoryLock.Dispose();
            lock (_lock)
            {
                _closing = true;
                _roomWaiter?.TrySetResult();
                _roomWaiter = null;
                if (_pendingCommits.Count > 0)
                {
                    Complete(_pendingCommits, _fault ?? new ObjectDisposedException(nameof(Journal)));
                    _pendingCommits.Clear();
                }
            }

            _writerDone.TrySetResult();
        }
    }

    private void Write(ReadOnlySpan<byte> batch, long firstId, long lastId)
    {
        if (_activeLength > JournalFormat.SegmentHeaderSize && _activeLength + batch.Length > _options.SegmentBytes)
        {
            Roll(firstId);
        }

        if (lastId > _mark.ReservedThrough)
        {
            // Reserve the next block of ids before any of them can be acknowledged: after a loss
            // of the newest segment, recovery starts past this, so no id is handed out twice.
            _mark = _mark with { ReservedThrough = lastId + _options.IdReserveBlock };
            _mark.Write(_options.Directory);
        }

        _active.Write(batch);
        if (_options.Durability != JournalDurability.None)
        {
            _active.Flush(flushToDisk: true);
        }

        _activeLength += batch.Length;
        lock (_lock)
        {
            _segments[^1].Length = _activeLength;
        }

        Interlocked.Increment(ref _flushes);
    }

    private void Roll(long firstId)
    {
        _active.Flush(flushToDisk: true);
        _active.Dispose();
        string path = Path.Combine(_options.Directory, JournalFormat.SegmentFileName(firstId));
        _active = CreateSegment(path, firstId, firstId - 1);
        _activeLength = JournalFormat.SegmentHeaderSize;
        JournalFiles.SyncDirectory(_options.Directory);
        lock (_lock)
        {
            _segments.Add(new Segment(firstId, path, _activeLength));
        }

        _mark = _mark with { LastSegmentId = firstId };
        _mark.Write(_options.Directory);
        ApplyRetention();
    }

    /// <summary>Creates a segment file with its header on disk (the caller flushes the folder).</summary>
    private static FileStream CreateSegment(string path, long firstId, long previousId)
    {
        var file = new FileStream(path, JournalFiles.Options(FileMode.CreateNew, FileAccess.Write, FileShare.Read | FileShare.Delete, bufferSize: 0));
        Span<byte> header = stackalloc byte[JournalFormat.SegmentHeaderSize];
        JournalFormat.WriteSegmentHeader(header, firstId, previousId);
        file.Write(header);
        file.Flush(flushToDisk: true);
        return file;
    }

    private void ApplyRetention()
    {
        while (true)
        {
            Segment oldest;
            lock (_lock)
            {
                long total = _segments.Sum(s => s.Length);
                if (_segments.Count <= 1 || total <= _options.MaxTotalBytes)
                {
                    return;
                }

                oldest = _segments[0];
                _segments.RemoveAt(0);
                _mark = _mark with { FirstSegmentId = _segments[0].FirstId };
            }

            // The mark first: a crash between the two leaves an extra old segment, not a "missing" one.
            _mark.Write(_options.Directory);
            File.Delete(oldest.Path);
            JournalFiles.SyncDirectory(_options.Directory);
            Log.SegmentDeleted(_logger, oldest.Path, oldest.Length);
        }
    }

    private void Complete(List<Commit> commits, Exception? error)
    {
        if (error is null && commits.Count > 0)
        {
            Volatile.Write(ref _committedId, commits[^1].Entry.Id);
        }

        foreach (Commit commit in commits)
        {
            try
            {
                commit.Callback?.Invoke(commit.Entry, error, commit.State);
            }
            catch (Exception ex)
            {
                // A callback's failure is its owner's bug; it must not stop the journal.
                Log.CallbackFailed(_logger, commit.Entry.Id, ex);
            }
        }
    }
}
