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

                long started = Stopwatch.GetTimestamp();
                Exception? error = TryWriteBatch(_writing.AsSpan(0, length), _writingCommits[0].Entry.Id, _writingCommits[^1].Entry.Id);
                if (error is null)
                {
                    lastFlush = Stopwatch.GetTimestamp();
                    JournalMetrics.CommitDuration.Record(Stopwatch.GetElapsedTime(started, lastFlush).TotalSeconds, MetricTag);
                    JournalMetrics.RecordsCommitted.Add(_writingCommits.Count, MetricTag);
                }

                lock (_lock)
                {
                    _uncommittedBytes -= length;
                    if (error is not null)
                    {
                        // The records queued behind the refused batch carry the ids after it, and the
                        // segment must hold one unbroken id sequence: they are refused with it, and the
                        // next record appended takes the first refused id.
                        (_pendingCommits, _failedCommits) = (_failedCommits, _pendingCommits);
                        _uncommittedBytes -= _pendingLength;
                        _pendingLength = 0;
                        _lastId = Volatile.Read(ref _committedId);
                    }

                    if (_roomWaiter is not null && _uncommittedBytes < _options.MaxPendingBytes / 2)
                    {
                        _roomWaiter.TrySetResult();
                        _roomWaiter = null;
                    }
                }

                if (error is not null)
                {
                    CountRefused(_writingCommits.Count + _failedCommits.Count);
                }

                Complete(_writingCommits, error);
                _writingCommits.Clear();
                Complete(_failedCommits, error);
                _failedCommits.Clear();
                if (_writing.Length > 4 * _pending.Length && _writing.Length > 1024 * 1024)
                {
                    _writing = new byte[_pending.Length]; // Give back a burst's buffer.
                }
            }
        }
        catch (Exception ex)
        {
            // Disk faults are handled in TryWriteBatch; this is a bug of the writer's own. Say so,
            // and below fail everything waiting rather than leave appenders waiting for ever.
            Log.WriterFailed(_logger, _options.Directory, ex);
            lock (_lock)
            {
                _fault = new IOException("The journal's writer stopped on an unexpected error.", ex);
            }
        }
        finally
        {
            Stop();
        }
    }

    /// <summary>The writer's way out, whatever the cause: closes the files and completes every
    /// record not yet completed (the batch in progress first, in id order), so no caller waits for ever.</summary>
    private void Stop()
    {
        try
        {
            MarkClosedCleanly();
            _active.Dispose();
            _directoryLock.Dispose();
            EndFailing();
        }
        finally
        {
            Exception error;
            lock (_lock)
            {
                _closing = true;
                _roomWaiter?.TrySetResult();
                _roomWaiter = null;
                error = _fault ?? new ObjectDisposedException(nameof(Journal));
                _failedCommits.AddRange(_pendingCommits);
                _pendingCommits.Clear();
                _pendingLength = 0;
            }

            Complete(_writingCommits, error);
            _writingCommits.Clear();
            Complete(_failedCommits, error);
            _failedCommits.Clear();
            _writerDone.TrySetResult();
        }
    }

    /// <summary>Writes the high-water mark and only then holds it as written: a write that failed must
    /// leave the old mark in force, or later batches would count on a reservation the disk never got.</summary>
    private void WriteMark(HighWaterMark mark)
    {
        mark.Write(_options.Directory);
        _mark = mark;
    }

    /// <summary>
    /// On a clean close (everything appended is on disk, no failure), records in the high-water
    /// mark where the journal ended, so the next open goes on from there without skipping ids.
    /// </summary>
    private void MarkClosedCleanly()
    {
        bool clean;
        lock (_lock)
        {
            clean = _fault is null && _pendingCommits.Count == 0;
        }

        if (_dirty)
        {
            try
            {
                // A refused write's bytes are still in the segment: one more try to cut them, or
                // the next open would read a refused record as stored.
                CutBackIfDirty();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                Log.CutBackFailed(_logger, _segments[^1].Path, _activeLength, ex.Message);
            }
        }

        if (!clean || _failingSince != 0 || _dirty)
        {
            return;
        }

        try
        {
            _active.Flush(toDisk: true);
            WriteMark(_mark with { CleanThrough = Volatile.Read(ref _committedId) });
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The next open treats it as a crash: new ids start past the reservation. Nothing is lost.
            Log.FileOperationFailed(_logger, _options.Directory, "high-water mark at close", ex.Message);
        }
    }

    /// <summary>Writes a batch to the active segment (rolling first when it is full) and, unless
    /// <see cref="JournalDurability.None"/>, fsyncs it. Throws whatever the file system throws;
    /// <see cref="TryWriteBatch"/> turns that into refused records.</summary>
    private void WriteToDisk(ReadOnlySpan<byte> batch, long firstId, long lastId)
    {
        // What an earlier failure left must go first: records written after it would follow garbage.
        DeleteLeftoverSegment();
        CutBackIfDirty();
        if (_activeLength > JournalFormat.SegmentHeaderSize && _activeLength + batch.Length > _options.SegmentBytes)
        {
            Roll(firstId);
        }

        if (lastId > _mark.ReservedThrough)
        {
            // Reserve the next block of ids before any of them can be acknowledged: after a loss
            // of the newest segment, recovery starts past this, so no id is handed out twice.
            WriteMark(_mark with { ReservedThrough = lastId + _options.IdReserveBlock });
        }

        _dirty = true; // From here a failure may leave part of the batch in the file.
        _active.Write(batch);
        if (_options.Durability != JournalDurability.None)
        {
            _active.Flush(toDisk: true);
        }

        _dirty = false;
        _activeLength += batch.Length;
        lock (_lock)
        {
            _segments[^1].Length = _activeLength;
        }

        Interlocked.Increment(ref _flushes);
    }

    private void Roll(long firstId)
    {
        _active.Flush(toDisk: true); // With durability None its records are not on disk yet.
        string path = Path.Combine(_options.Directory, JournalFormat.SegmentFileName(firstId));
        SegmentFile next;
        try
        {
            next = _options.Storage.CreateSegment(path, firstId, firstId - 1);
        }
        catch
        {
            // A create that failed half-way deletes its file; if the disk refused even that, the
            // file goes before anything else is written (a stray segment would confuse recovery).
            if (File.Exists(path))
            {
                _leftoverSegment = path;
            }

            throw;
        }

        _active.Dispose();
        _active = next;
        _activeLength = JournalFormat.SegmentHeaderSize;
        lock (_lock)
        {
            _segments.Add(new Segment(firstId, path, _activeLength));
        }

        WriteMark(_mark with { LastSegmentId = firstId });
        ApplyRetention();
    }

    /// <summary>Creates a segment file with its header, fsyncs it and its folder (a new file's name
    /// is durable only once the folder is synced). On failure, deletes what it created when it can.</summary>
    internal static FileStream CreateSegment(string path, long firstId, long previousId) => CreateSegment(path, firstId, previousId, DirectorySync.Sync);

    /// <inheritdoc cref="CreateSegment(string, long, long)"/>
    internal static FileStream CreateSegment(string path, long firstId, long previousId, Action<string> syncDirectory)
    {
        var file = new FileStream(path, JournalFiles.Options(FileMode.CreateNew, FileAccess.Write, FileShare.Read | FileShare.Delete, bufferSize: 0));
        try
        {
            Span<byte> header = stackalloc byte[JournalFormat.SegmentHeaderSize];
            JournalFormat.WriteSegmentHeader(header, firstId, previousId);
            file.Write(header);
            file.Flush(flushToDisk: true);
            syncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            return file;
        }
        catch
        {
            file.Dispose();
            TryDelete(path);
            throw;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The caller sees the file still there and deals with it (Roll records it as a leftover).
        }
    }

    private void ApplyRetention()
    {
        bool deleted = false;
        while (true)
        {
            Segment oldest;
            lock (_lock)
            {
                long total = _segments.Sum(s => s.Length);
                if (_segments.Count <= 1 || total <= _options.MaxTotalBytes)
                {
                    break;
                }

                oldest = _segments[0];
            }

            try
            {
                // The mark first: a crash between the two leaves an extra old segment, which is
                // harmless, never a segment the mark names as oldest and that is gone.
                WriteMark(_mark with { FirstSegmentId = _segments[1].FirstId });
                _options.Storage.Delete(oldest.Path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Kept in the list: the next roll tries again. Not a failed write: the records are stored.
                Log.FileOperationFailed(_logger, oldest.Path, "retention delete", ex.Message);
                break;
            }

            lock (_lock)
            {
                _segments.RemoveAt(0);
                Volatile.Write(ref _firstRetainedId, _segments[0].FirstId);
            }

            deleted = true;
            Log.SegmentDeleted(_logger, oldest.Path, oldest.Length);
        }

        if (deleted)
        {
            SyncDirectoryAfterDelete();
        }
    }

    private void SyncDirectoryAfterDelete()
    {
        try
        {
            _options.Storage.SyncDirectory(_options.Directory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A deleted segment may come back after a power cut: recovery reads it as the old,
            // valid segment it was, and the next roll's retention deletes it again.
            Log.FileOperationFailed(_logger, _options.Directory, "folder fsync after a delete", ex.Message);
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
