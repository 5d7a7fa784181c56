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
        lock (_lock)
        {
            if (_completed || _frames.Count == 0 || _queuedBytes + length <= _limit)
            {
                return Task.CompletedTask;
            }

            _roomWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            task = _roomWaiter.Task;
        }

        return task.WaitAsync(cancellationToken);
    }

    /// <summary>Completes when everything enqueued before the call has been written.</summary>
    public Task FlushAsync(CancellationToken cancellationToken)
    {
        TaskCompletionSource completion;
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
        }

        return completion.Task.WaitAsync(cancellationToken);
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
