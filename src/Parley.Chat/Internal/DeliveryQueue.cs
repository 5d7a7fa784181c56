namespace Parley.Chat;

/// <summary>
/// Carries stored messages from the journal's writer thread to their delivery, in id order, on
/// the thread pool: the writer hands each commit over and goes on to write and flush the next
/// batch while the previous one is broadcast and acknowledged. One pool work item runs at a
/// time and drains what has queued, so deliveries keep the journal's order; it is queued only
/// when the queue goes from empty to not, and allocates nothing per message.
/// <para>Bounded: committed messages waiting here count their records' bytes, and past
/// <paramref name="maxBytes"/> the sessions stop appending (<see cref="IsFull"/>,
/// <see cref="WaitForRoomAsync"/>) until deliveries catch up — so a delivery slower than the disk
/// (a very large room) pushes back on the senders, as it did when it ran on the writer thread,
/// instead of piling up committed messages.</para>
/// </summary>
internal sealed class DeliveryQueue(Action<PendingMessage> deliver, long maxBytes) : IThreadPoolWorkItem
{
    private readonly Lock _lock = new();
    private List<PendingMessage> _queued = new(64);
    private List<PendingMessage> _running = new(64);
    private bool _scheduled;
    private TaskCompletionSource? _idle;
    private TaskCompletionSource? _roomWaiter;
    private long _queuedBytes;

    /// <summary>Bytes of records queued and not yet delivered.</summary>
    public long QueuedBytes => Volatile.Read(ref _queuedBytes);

    /// <summary>Whether sessions should wait before appending more (<see cref="WaitForRoomAsync"/>).</summary>
    public bool IsFull => Volatile.Read(ref _queuedBytes) >= maxBytes;

    private readonly TaskCompletionSource _firstWait = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes the first time a session has to wait for room (for tests).</summary>
    internal Task FirstWait => _firstWait.Task;

    /// <summary>Completes when the queue is below half its limit again.</summary>
    public Task WaitForRoomAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_queuedBytes < maxBytes / 2)
            {
                return Task.CompletedTask;
            }

            _roomWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _firstWait.TrySetResult();
            return _roomWaiter.Task.WaitAsync(cancellationToken);
        }
    }

    /// <summary>Queues a stored (or refused) message; called in id order.</summary>
    public void Enqueue(PendingMessage message)
    {
        lock (_lock)
        {
            _queued.Add(message);
            _queuedBytes += message.Record.Length;
            if (_scheduled)
            {
                return;
            }

            _scheduled = true;
        }

        ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
    }

    /// <summary>Completes when everything queued so far is delivered.</summary>
    public Task WhenIdleAsync()
    {
        lock (_lock)
        {
            if (!_scheduled)
            {
                return Task.CompletedTask;
            }

            _idle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _idle.Task;
        }
    }

    void IThreadPoolWorkItem.Execute()
    {
        while (true)
        {
            List<PendingMessage>? batch = null;
            TaskCompletionSource? idle = null;
            lock (_lock)
            {
                if (_queued.Count == 0)
                {
                    // Once _scheduled is false the next Enqueue starts another work item, which
                    // swaps the lists: from here on this one must not touch them.
                    _scheduled = false;
                    idle = _idle;
                    _idle = null;
                }
                else
                {
                    (_queued, _running) = (_running, _queued);
                    batch = _running;
                }
            }

            if (batch is null)
            {
                idle?.TrySetResult();
                return;
            }

            long bytes = 0;
            foreach (PendingMessage message in batch)
            {
                bytes += message.Record.Length; // before the delivery returns it to its pool
                deliver(message); // never throws: a delivery's failure is the delivery's to handle
            }

            batch.Clear();
            TaskCompletionSource? room = null;
            lock (_lock)
            {
                _queuedBytes -= bytes;
                if (_queuedBytes < maxBytes / 2)
                {
                    room = _roomWaiter;
                    _roomWaiter = null;
                }
            }

            room?.TrySetResult();
        }
    }
}
