namespace Parley.Internal;

internal enum EnqueueResult
{
    Queued,
    DroppedNewest,
    OverLimit,
    NoRoom,
    Closed,
}

/// <summary>
/// A connection's outbound frames: many producers, one consumer (the send loop). Bounded in
/// bytes; the overflow policy runs under the same lock as the enqueue, so the bound is exact.
/// </summary>
/// <remarks>
/// The lock guards a few field updates only; it is never held across I/O or an await. The
/// send loop waits on a reusable value-task source, so waking it allocates nothing.
/// Ownership: <see cref="TryEnqueue"/> takes over the caller's frame reference in every case
/// except <see cref="EnqueueResult.NoRoom"/>.
/// </remarks>
internal sealed partial class SendQueue
{
    private readonly Lock _lock = new();
    private readonly Queue<Frame> _frames = new();
    private Frame? _tail;
    private readonly long _limit;
    private readonly SlowConsumerPolicy _policy;
    private bool _consumerWaiting;
    private bool _completed;
    private long _queuedBytes;
    private long _enqueuedTotal;
    private long _completedTotal;
    private TaskCompletionSource? _roomWaiter;
    private List<(long Target, TaskCompletionSource Completion)>? _flushWaiters;
    private Exception? _closedException;

    public SendQueue(long limit, SlowConsumerPolicy policy)
    {
        _limit = limit;
        _policy = policy;
    }

    public long QueuedBytes
    {
        get
        {
            lock (_lock)
            {
                return _queuedBytes;
            }
        }
    }

    public bool IsEmpty
    {
        get
        {
            lock (_lock)
            {
                return _frames.Count == 0;
            }
        }
    }

    /// <summary>Queues a frame. <paramref name="droppedMessages"/> counts what DropOldest removed to make room.</summary>
    public EnqueueResult TryEnqueue(Frame frame, bool applyPolicy, out int droppedMessages)
    {
        EnqueueResult? rejection;
        bool wake = false;
        lock (_lock)
        {
            rejection = Admit(frame.Length, applyPolicy, out droppedMessages);
            if (rejection is null)
            {
                _frames.Enqueue(frame);
                _tail = frame;
                _queuedBytes += frame.Length;
                _enqueuedTotal += frame.Length;
                wake = _consumerWaiting;
                _consumerWaiting = false;
            }
        }

        if (rejection is { } rejected)
        {
            // NoRoom leaves the frame with the caller, who waits and tries again.
            if (rejected != EnqueueResult.NoRoom)
            {
                frame.ReleaseQueueReference();
            }

            return rejected;
        }

        if (wake)
        {
            Wake(true);
        }

        return EnqueueResult.Queued;
    }

    /// <summary>
    /// Encodes <paramref name="payload"/> straight into the private frame at the queue's tail
    /// when it has room: many small sends then share one pooled buffer and one write, with no
    /// frame rented per message. False when there is no such room; the caller then enqueues a
    /// new frame (and still counts <paramref name="droppedMessages"/>). <paramref name="busy"/>
    /// says whether frames were waiting. The caller has validated the payload.
    /// </summary>
    public bool TryAppend(ReadOnlySpan<byte> payload, MessageFramer framer, int frameLength, out EnqueueResult result, out int droppedMessages, out bool busy)
    {
        bool wake;
        lock (_lock)
        {
            busy = _frames.Count > 0;
            if (Admit(frameLength, applyPolicy: true, out droppedMessages) is { } rejected)
            {
                result = rejected;
                return true;
            }

            if (_tail is not { IsAppendable: true } tail || tail.FreeCapacity < frameLength)
            {
                result = default;
                return false;
            }

            framer.WriteFrame(payload, tail.AppendSpan(frameLength));
            tail.CommitAppend(frameLength);
            _queuedBytes += frameLength;
            _enqueuedTotal += frameLength;
            wake = _consumerWaiting;
            _consumerWaiting = false;
            result = EnqueueResult.Queued;
        }

        if (wake)
        {
            Wake(true);
        }

        return true;
    }

    /// <summary>
    /// Under the lock: may <paramref name="length"/> more bytes be queued? Null when yes (after
    /// DropOldest made room, if that is the policy); otherwise why not. One frame is always
    /// admitted into an empty queue, however large.
    /// </summary>
    private EnqueueResult? Admit(int length, bool applyPolicy, out int droppedMessages)
    {
        droppedMessages = 0;
        if (_completed)
        {
            return EnqueueResult.Closed;
        }

        if (_queuedBytes + length <= _limit || _frames.Count == 0)
        {
            return null;
        }

        if (!applyPolicy)
        {
            return EnqueueResult.NoRoom;
        }

        switch (_policy)
        {
            case SlowConsumerPolicy.DropNewest:
                return EnqueueResult.DroppedNewest;
            case SlowConsumerPolicy.DropOldest:
                droppedMessages = DropOldest(length);
                return null;
            default:
                return EnqueueResult.OverLimit;
        }
    }

    /// <summary>Drops queued frames, oldest first, until <paramref name="incoming"/> more bytes fit. Under the lock.</summary>
    private int DropOldest(int incoming)
    {
        int dropped = 0;
        while (_queuedBytes + incoming > _limit && _frames.Count > 0)
        {
            Frame oldest = _frames.Dequeue();
            _queuedBytes -= oldest.Length;
            _completedTotal += oldest.Length;
            dropped += oldest.MessageCount;
            oldest.ReleaseQueueReference();
        }

        if (_frames.Count == 0)
        {
            _tail = null;
        }

        return dropped;
    }

    /// <summary>
    /// Moves the next write's frames into <paramref name="frames"/>: one large frame alone, or a
    /// run of small ones up to <paramref name="maxBytes"/> and <paramref name="maxFrames"/>.
    /// </summary>
    public long Drain(List<Frame> frames, int largeFrame, long maxBytes, int maxFrames)
    {
        long bytes = 0;
        TaskCompletionSource? room = null;
        lock (_lock)
        {
            while (_frames.Count > 0 && frames.Count < maxFrames)
            {
                Frame next = _frames.Peek();
                if (bytes > 0 && (next.Length >= largeFrame || bytes + next.Length > maxBytes))
                {
                    break;
                }

                _frames.Dequeue();
                frames.Add(next);
                bytes += next.Length;
                if (next.Length >= largeFrame)
                {
                    break;
                }
            }

            _queuedBytes -= bytes;
            if (_frames.Count == 0)
            {
                // The tail is on its way to the socket: nothing may be appended to it any more.
                _tail = null;
            }

            // Any drain may make room; a waiter re-checks for its own frame's size.
            if (_roomWaiter is not null && bytes > 0)
            {
                room = _roomWaiter;
                _roomWaiter = null;
            }
        }

        room?.TrySetResult();
        return bytes;
    }

    /// <summary>Records that <paramref name="bytes"/> were written and releases flushes waiting for them.</summary>
    public void OnSent(long bytes)
    {
        List<TaskCompletionSource>? done = null;
        lock (_lock)
        {
            _completedTotal += bytes;
            if (_flushWaiters is { Count: > 0 } waiters)
            {
                for (int i = waiters.Count - 1; i >= 0; i--)
                {
                    if (waiters[i].Target <= _completedTotal)
                    {
                        (done ??= []).Add(waiters[i].Completion);
                        waiters.RemoveAt(i);
                    }
                }
            }
        }

        if (done is not null)
        {
            foreach (TaskCompletionSource completion in done)
            {
                completion.TrySetResult();
            }
        }
    }

    /// <summary>Accepts no more frames; the consumer drains what is queued and then stops.</summary>
    public void Complete()
    {
        bool wake;
        TaskCompletionSource? room;
        lock (_lock)
        {
            _completed = true;
            wake = _consumerWaiting;
            _consumerWaiting = false;
            room = _roomWaiter;
            _roomWaiter = null;
        }

        room?.TrySetResult();
        if (wake)
        {
            Wake(false);
        }
    }

    /// <summary>Completes the queue, releases every queued frame and fails pending flushes.</summary>
    public void Abort(Exception closedException)
    {
        List<(long, TaskCompletionSource)>? waiters;
        Frame[] dropped;
        lock (_lock)
        {
            _closedException ??= closedException;
            dropped = _frames.Count == 0 ? [] : _frames.ToArray();
            _frames.Clear();
            _tail = null;
            _queuedBytes = 0;
            waiters = _flushWaiters;
            _flushWaiters = null;
        }

        foreach (Frame frame in dropped)
        {
            frame.ReleaseQueueReference();
        }

        Complete();
        if (waiters is not null)
        {
            foreach ((_, TaskCompletionSource completion) in waiters)
            {
                completion.TrySetException(closedException);
            }
        }
    }
}
