using Microsoft.Extensions.Logging;

namespace Parley.Journal;

/// <summary>Called once per appended record, on the journal's writer thread, in id order, when
/// the record is committed under the journal's <see cref="JournalDurability"/> — or with
/// <paramref name="error"/> set when it never will be: the disk refused it (the record is not in
/// the journal, and its id is given to a later record), or the journal was disposed.</summary>
/// <param name="entry">The record's id and timestamp.</param>
/// <param name="error">Null when committed.</param>
/// <param name="state">The state passed to <see cref="Journal.TryAppend"/>.</param>
public delegate void JournalCommitCallback(JournalEntry entry, Exception? error, object? state);

/// <summary>
/// An append-only log of records in segment files, each record length-prefixed and
/// CRC32C-checked, with monotonically increasing ids, group commit and retention by size.
/// </summary>
/// <remarks>
/// <para>Appending copies the record into a pending batch under a short lock and returns; one
/// writer thread writes each batch with one write and (unless <see cref="JournalDurability.None"/>)
/// one fsync, then runs the batch's commit callbacks in id order. Callbacks therefore see
/// records committed in exactly the order they were appended, which lets an application
/// acknowledge and broadcast from them without reordering.</para>
/// <para>Recovery (<see cref="Open"/>) scans every segment, skips damaged records without
/// deleting what follows them, refuses damage that loses records unless accepted, and replays
/// the valid records to the caller. A high-water mark file keeps ids from ever repeating.</para>
/// <para>A write that fails (disk full, file too large, I/O error, read-only file system) refuses
/// its batch and every record queued behind it: their callbacks get the error, the bytes the
/// write left are cut off the segment, and the ids are handed out again, so the records on disk
/// stay one unbroken sequence. The writer keeps running; it tries the disk again after
/// <see cref="JournalOptions.WriteRetryDelay"/> (doubling up to
/// <see cref="JournalOptions.MaxWriteRetryDelay"/>), refusing at once what is appended
/// meanwhile, and stores records again as soon as the disk takes them. See
/// <see cref="JournalMetrics"/>.</para>
/// <para>Thread-safe. Memory is bounded by <see cref="JournalOptions.MaxPendingBytes"/>.</para>
/// </remarks>
public sealed partial class Journal : IAsyncDisposable
{
    private readonly JournalOptions _options;
    private readonly ILogger _logger;
    private readonly object _lock = new(); // Monitor.Wait/Pulse wake the writer thread, so not System.Threading.Lock
    private readonly List<Segment> _segments;
    private readonly Thread _writer;
    private readonly TaskCompletionSource _writerDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private byte[] _pending;
    private int _pendingLength;
    private List<Commit> _pendingCommits = [];
    private byte[] _writing;
    private List<Commit> _writingCommits = [];
    private List<Commit> _failedCommits = [];
    private long _uncommittedBytes;
    private long _lastId;
    private long _lastMicros;
    private long _committedId;
    private bool _closing;
    private Exception? _fault;
    private TaskCompletionSource? _roomWaiter;
    private SegmentFile _active;
    private long _activeLength;
    private long _flushes;
    private long _firstRetainedId;

    private readonly record struct Commit(JournalEntry Entry, JournalCommitCallback? Callback, object? State);

    private sealed record Segment(long FirstId, string Path, long Length)
    {
        public long Length { get; set; } = Length;
    }

    private readonly FileStream _directoryLock;
    private HighWaterMark _mark; // written by the writer thread only, after Open

    private Journal(JournalOptions options, List<Segment> segments, long lastId, FileStream active, long activeLength, FileStream directoryLock, HighWaterMark mark)
    {
        _directoryLock = directoryLock;
        _mark = mark;
        _options = options;
        _logger = options.LoggerFactory.CreateLogger<Journal>();
        _segments = segments;
        _firstRetainedId = segments[0].FirstId;
        _lastId = lastId;
        _committedId = lastId;
        _active = options.Storage.Open(active);
        _activeLength = activeLength;
        _pending = new byte[Math.Min(options.MaxPendingBytes, 64 * 1024)];
        _writing = new byte[_pending.Length];
        _failureLog = new LogRateLimiter(options.TimeProvider, perSecond: 1.0 / 30, burst: 1);
        _writer = new Thread(WriterLoop) { IsBackground = true, Name = "parley-journal" };
        _writer.Start();
    }

    /// <summary>The id of the last record appended (committed or not); 0 for an empty journal.
    /// After a failed write it falls back to <see cref="CommittedId"/>: refused records' ids are handed out again.</summary>
    public long LastId
    {
        get
        {
            lock (_lock)
            {
                return _lastId;
            }
        }
    }

    /// <summary>The id of the last committed record.</summary>
    public long CommittedId => Volatile.Read(ref _committedId);

    /// <summary>Flushes (write + fsync, or write alone with <see cref="JournalDurability.None"/>) done so far: records per flush = records / this.</summary>
    public long Flushes => Volatile.Read(ref _flushes);

    /// <summary>Segment files now, including the one being written.</summary>
    public int SegmentCount
    {
        get
        {
            lock (_lock)
            {
                return _segments.Count;
            }
        }
    }

    /// <summary>The options it was opened with.</summary>
    public JournalOptions Options => _options;

    /// <summary>
    /// Appends a record unless too many bytes are waiting for the disk. The payload is copied;
    /// <paramref name="callback"/> runs when the record is committed (see <see cref="JournalCommitCallback"/>).
    /// </summary>
    /// <returns>False when <see cref="JournalOptions.MaxPendingBytes"/> would be passed: wait with
    /// <see cref="WaitForRoomAsync"/> and try again.</returns>
    /// <exception cref="ArgumentException">The payload is longer than <see cref="JournalOptions.MaxRecordBytes"/>.</exception>
    /// <exception cref="ObjectDisposedException">The journal is closing.</exception>
    /// <exception cref="IOException">The journal's writer stopped on an unexpected error (never for a disk
    /// fault: a record the disk refuses gets its callback with the error).</exception>
    public bool TryAppend(ReadOnlySpan<byte> payload, JournalCommitCallback? callback, object? state, out JournalEntry entry)
    {
        if (payload.Length > _options.MaxRecordBytes)
        {
            throw new ArgumentException($"A journal record holds at most {_options.MaxRecordBytes} bytes; this one has {payload.Length}.", nameof(payload));
        }

        int size = JournalFormat.RecordOverhead + payload.Length;
        lock (_lock)
        {
            ThrowIfUnusable();
            if (_uncommittedBytes > 0 && _uncommittedBytes + size > _options.MaxPendingBytes)
            {
                entry = default;
                return false;
            }

            long micros = Math.Max(_lastMicros, JournalFormat.ToMicros(_options.TimeProvider.GetUtcNow()));
            _lastMicros = micros;
            long id = ++_lastId;
            if (_pending.Length - _pendingLength < size)
            {
                Array.Resize(ref _pending, Math.Max(_pending.Length * 2, _pendingLength + size));
            }

            JournalFormat.WriteRecord(_pending.AsSpan(_pendingLength), id, micros, payload);
            _pendingLength += size;
            _uncommittedBytes += size;
            entry = new JournalEntry(id, JournalFormat.FromMicros(micros));
            _pendingCommits.Add(new Commit(entry, callback, state));
            if (_pendingCommits.Count == 1)
            {
                Monitor.PulseAll(_lock);
            }

            return true;
        }
    }

    /// <summary>Appends a record and completes when it is committed, waiting for room first if needed.</summary>
    /// <exception cref="IOException">The disk refused the record; it is not stored.</exception>
    public async Task<JournalEntry> AppendAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        var committed = new TaskCompletionSource<JournalEntry>(TaskCreationOptions.RunContinuationsAsynchronously);
        while (!TryAppend(payload.Span, CompleteTask, committed, out _))
        {
            await WaitForRoomAsync(cancellationToken).ConfigureAwait(false);
        }

        return await committed.Task.ConfigureAwait(false);

        static void CompleteTask(JournalEntry entry, Exception? error, object? state)
        {
            var source = (TaskCompletionSource<JournalEntry>)state!;
            if (error is null)
            {
                source.TrySetResult(entry);
            }
            else
            {
                source.TrySetException(error);
            }
        }
    }

    /// <summary>Completes when a <see cref="TryAppend"/> refused for lack of room may succeed (or the journal closed).</summary>
    public Task WaitForRoomAsync(CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            if (_uncommittedBytes == 0 || _closing || _fault is not null || _uncommittedBytes < _options.MaxPendingBytes / 2)
            {
                return Task.CompletedTask;
            }

            _roomWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _roomWaiter.Task.WaitAsync(cancellationToken);
        }
    }

    /// <summary>Commits everything appended so far, then closes the files. Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        lock (_lock)
        {
            _closing = true;
            Monitor.PulseAll(_lock);
        }

        await _writerDone.Task.ConfigureAwait(false);
    }

    private void ThrowIfUnusable()
    {
        if (_fault is not null)
        {
            throw new IOException("The journal's writer stopped on an unexpected error and accepts no more records.", _fault);
        }

        ObjectDisposedException.ThrowIf(_closing, this);
    }
}
