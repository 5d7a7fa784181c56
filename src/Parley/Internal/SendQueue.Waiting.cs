using System.Threading.Tasks.Sources;

namespace Parley.Internal;

/// <summary>The waiting side of the send queue: the send loop's wake-ups, room for producers that wait, flushes.</summary>
internal sealed partial class SendQueue : IValueTaskSource<bool>, IThreadPoolWorkItem
{
    // Continuations run inline in Execute, which itself runs on the thread pool: the producer
    // never runs the send loop (and its system call) on its own thread, and the hop allocates
    // nothing, unlike RunContinuationsAsynchronously, which queues a new work item each time.
    private ManualResetValueTaskSourceCore<bool> _signal;
    private bool _signalResult;
    private int _deferringThread;
    private bool _wakeDeferred;

    /// <summary>Waits until there is something to drain (true) or the queue is completed and empty (false).</summary>
    public ValueTask<bool> WaitAsync()
    {
        lock (_lock)
        {
            if (_frames.Count > 0)
            {
                return new ValueTask<bool>(true);
            }

            if (_completed)
            {
                return new ValueTask<bool>(false);
            }

            _signal.Reset();
            _consumerWaiting = true;
            return new ValueTask<bool>(this, _signal.Version);
        }
    }

    /// <summary>Completes when a frame of <paramref name="length"/> bytes may fit (the same test as
    /// <see cref="TryEnqueue"/>), or the queue is closed. The caller retries the enqueue.</summary>
    public Task WaitForRoomAsync(int length, CancellationToken cancellationToken)
    {
        Task task;
        bool wake;
        lock (_lock)
        {
            if (_completed || _frames.Count == 0 || _queuedBytes + length <= _limit)
            {
                return Task.CompletedTask;
            }

            _roomWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            task = _roomWaiter.Task;
            wake = TakeHeldWake();
        }

        if (wake)
        {
            Wake(true);
        }

        return task.WaitAsync(cancellationToken);
    }

    /// <summary>Completes when everything enqueued before the call has been written.</summary>
    public Task FlushAsync(CancellationToken cancellationToken)
    {
        TaskCompletionSource completion;
        bool wake;
        lock (_lock)
        {
            if (_closedException is not null)
            {
                return Task.FromException(_closedException);
            }

            if (_completedTotal >= _enqueuedTotal)
            {
                return Task.CompletedTask;
            }

            completion = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            (_flushWaiters ??= []).Add((_enqueuedTotal, completion));
            wake = TakeHeldWake();
        }

        if (wake)
        {
            Wake(true);
        }

        return completion.Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// From here until <see cref="EndDeferring"/>, frames this thread queues do not wake the
    /// send loop at once: the wake comes once, at the end. The event pump brackets each parse
    /// pass with these, so the replies a handler sends to one read are written together, by one
    /// wake and one system call, and the send loop does not contend for the lock with the
    /// handler still appending (Netty flushes what <c>channelRead</c> wrote at
    /// <c>channelReadComplete</c> for the same reason). Other threads' sends wake as usual.
    /// </summary>
    public void BeginDeferring() => Volatile.Write(ref _deferringThread, Environment.CurrentManagedThreadId);

    /// <summary>Ends <see cref="BeginDeferring"/>: wakes the send loop if a send was held back.</summary>
    public void EndDeferring()
    {
        Volatile.Write(ref _deferringThread, 0);

        // Only the deferring thread sets this (under the lock), and only this thread clears it.
        if (!_wakeDeferred)
        {
            return;
        }

        bool wake;
        lock (_lock)
        {
            _wakeDeferred = false;

            // Another thread's send, or Complete, may have woken the consumer since.
            wake = _consumerWaiting && _frames.Count > 0;
            if (wake)
            {
                _consumerWaiting = false;
            }
        }

        if (wake)
        {
            Wake(true);
        }
    }

    /// <summary>Under the lock, after queuing: whether the caller must wake the consumer. A
    /// deferring thread leaves it waiting (and marked so) and wakes it in <see cref="EndDeferring"/>.</summary>
    private bool TakeWake()
    {
        if (!_consumerWaiting)
        {
            return false;
        }

        if (_deferringThread != 0 && _deferringThread == Environment.CurrentManagedThreadId)
        {
            _wakeDeferred = true;
            return false;
        }

        _consumerWaiting = false;
        return true;
    }

    /// <summary>Under the lock: a caller is about to wait for the send loop (a flush, or room),
    /// so a wake held back by <see cref="BeginDeferring"/> must happen now, or a handler that
    /// blocks on the wait would wait for itself.</summary>
    private bool TakeHeldWake()
    {
        if (!_consumerWaiting || _frames.Count == 0)
        {
            return false;
        }

        _consumerWaiting = false;
        return true;
    }

    private void Wake(bool result)
    {
        _signalResult = result;
        ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: true);
    }

    void IThreadPoolWorkItem.Execute() => _signal.SetResult(_signalResult);

    bool IValueTaskSource<bool>.GetResult(short token) => _signal.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _signal.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _signal.OnCompleted(continuation, state, token, flags);
}
