namespace Parley.Journal;

/// <summary>
/// Disk faults on the write path. A failed write refuses its records (never the process, never
/// the writer thread); what the write left in the segment is cut off before anything else is
/// written; the disk is tried again after a wait that doubles, up to a bound, on each failure;
/// the first write that succeeds ends it. All state here belongs to the writer thread.
/// </summary>
public sealed partial class Journal
{
    private readonly LogRateLimiter _failureLog;
    private bool _dirty; // the active segment may hold bytes past _activeLength (a failed write's)
    private string? _leftoverSegment; // a segment file a failed roll created and could not delete
    private long _failingSince; // TimeProvider timestamp of the first failure in a row; 0 when writing
    private long _lastAttempt;
    private TimeSpan _backoff;
    private Exception? _lastFailure;
    private long _refusedWhileFailing;

    private KeyValuePair<string, object?> MetricTag => new(JournalMetrics.DirectoryTag, _options.Directory);

    /// <summary>Writes a batch, or returns why it was not written (the error its records are
    /// refused with). Never throws for a file error: whatever the file APIs throw — IOException
    /// for ENOSPC, EIO or EROFS, ArgumentOutOfRangeException for EFBIG, UnauthorizedAccessException
    /// — is a failed write.</summary>
    private IOException? TryWriteBatch(ReadOnlySpan<byte> batch, long firstId, long lastId)
    {
        long now = _options.TimeProvider.GetTimestamp();
        if (_failingSince != 0 && _options.TimeProvider.GetElapsedTime(_lastAttempt, now) < _backoff)
        {
            // Waiting before the next try of a failing disk: refuse at once, without touching it.
            return new IOException($"The journal cannot write to disk ({_lastFailure!.Message}); the record was not stored.", _lastFailure);
        }

        try
        {
            WriteToDisk(batch, firstId, lastId);
        }
        catch (Exception ex)
        {
            // Any exception of the file APIs is a failed write (see above); a bug of ours thrown
            // here is retried the same way, and logged with its stack on the first failure.
            OnWriteFailed(ex, now);
            return new IOException($"The journal could not write to disk ({ex.Message}); the record was not stored.", ex);
        }

        if (_failingSince != 0)
        {
            Log.WritingAgain(_logger, _options.Directory, _options.TimeProvider.GetElapsedTime(_failingSince, now), _refusedWhileFailing);
            EndFailing();
        }

        return null;
    }

    private void OnWriteFailed(Exception error, long now)
    {
        JournalMetrics.WriteFailures.Add(1, MetricTag, new KeyValuePair<string, object?>("error.type", error.GetType().Name));
        _lastFailure = error;
        _lastAttempt = now;

        // Cut at once what the write left, so that a crash now cannot bring refused records back
        // at the next start. When the disk refuses even that, it is tried before the next write.
        if (_dirty)
        {
            try
            {
                CutBackIfDirty();
            }
            catch (Exception ex)
            {
                // Logged; _dirty stays set and nothing is appended until the cut succeeds.
                Log.CutBackFailed(_logger, _segments[^1].Path, _activeLength, ex.Message);
            }
        }

        if (_failingSince == 0)
        {
            _failingSince = now;
            _backoff = _options.WriteRetryDelay;
            _refusedWhileFailing = 0;
            JournalMetrics.Failing.Add(1, MetricTag);
            _ = _failureLog.TryTake(out _); // the next "still failing" line comes a full period later
            Log.WriteFailing(_logger, _options.Directory, _backoff, _options.MaxWriteRetryDelay, error);
            return;
        }

        _backoff = TimeSpan.FromTicks(Math.Min(_backoff.Ticks * 2, _options.MaxWriteRetryDelay.Ticks));
        if (_failureLog.TryTake(out long suppressed))
        {
            Log.StillFailing(_logger, _options.Directory, _options.TimeProvider.GetElapsedTime(_failingSince, now), $"{error.GetType().Name}: {error.Message}", _refusedWhileFailing, _backoff, suppressed);
        }
    }

    /// <summary>Counts records refused (the failed batch and those queued behind it).</summary>
    private void CountRefused(int records)
    {
        JournalMetrics.RecordsRefused.Add(records, MetricTag);
        _refusedWhileFailing += records;
    }

    /// <summary>The journal writes again, or is closing: it is no longer counted as failing.</summary>
    private void EndFailing()
    {
        if (_failingSince != 0)
        {
            _failingSince = 0;
            _lastFailure = null;
            JournalMetrics.Failing.Add(-1, MetricTag);
        }
    }

    /// <summary>Cuts the active segment back to its last whole record when a failed write may
    /// have left bytes after it (part of a batch, or a whole batch whose fsync failed).</summary>
    private void CutBackIfDirty()
    {
        if (_dirty)
        {
            _active.Truncate(_activeLength);
            _dirty = false;
        }
    }

    /// <summary>Deletes the segment file a failed roll left (it holds at most a header, no records).</summary>
    private void DeleteLeftoverSegment()
    {
        if (_leftoverSegment is { } path)
        {
            _options.Storage.Delete(path);
            _options.Storage.SyncDirectory(_options.Directory);
            _leftoverSegment = null;
        }
    }
}
