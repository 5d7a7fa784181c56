namespace Parley.Chat;

/// <summary>
/// Carries stored messages from the journal's writer thread to their delivery, in id order, on
/// the thread pool: the writer hands each commit over and goes on to write and flush the next
/// batch while the previous one is broadcast and acknowledged. One pool work item runs at a
/// time and drains what has queued, so deliveries keep the journal's order; it is queued only
/// when the queue goes from empty to not, and allocates nothing per message.
/// </summary>
internal sealed class DeliveryQueue(Action<PendingMessage> deliver) : IThreadPoolWorkItem
{
    private readonly Lock _lock = new();
    private List<PendingMessage> _queued = new(64);
    private List<PendingMessage> _running = new(64);
    private bool _scheduled;
    private TaskCompletionSource? _idle;

    /// <summary>Queues a stored (or refused) message; called in id order.</summary>
    public void Enqueue(PendingMessage message)
    {
        lock (_lock)
        {
            _queued.Add(message);
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

            foreach (PendingMessage message in batch)
            {
                deliver(message); // never throws: a delivery's failure is the delivery's to handle
            }

            batch.Clear();
        }
    }
}
