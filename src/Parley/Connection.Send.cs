using System.Buffers;
using Parley.Internal;

namespace Parley;

public sealed partial class Connection
{
    // Merge then send: queued small frames are copied into one pooled buffer and written with
    // one system call; a large frame is written alone, uncopied. A gather-write (sendmsg with
    // many buffers) would avoid the copy, but .NET on Unix allocates two arrays per such call,
    // and for small frames one memcpy is cheaper than many iovecs anyway. See docs/architecture.md.
    private const int LargeFrame = 16 * 1024;

    // Small sends are encoded straight into a private frame of this size at the queue's tail
    // (see SendQueue.TryAppend): bursts of small messages cost one buffer and one write.
    private const int CoalesceBytes = 4096;
    private const int MaxBytesPerWrite = 64 * 1024;
    private const int MaxFramesPerWrite = 1024;

    private int _slowConsumerEpisode;

    /// <summary>
    /// Frames <paramref name="payload"/> into a pooled buffer and queues it. Never blocks on the
    /// network; safe from any thread; frames queued by one thread are sent in that order.
    /// </summary>
    /// <returns><see cref="SendStatus.Queued"/>, or what the slow-consumer policy did, or
    /// <see cref="SendStatus.Closed"/>.</returns>
    /// <exception cref="ArgumentException">The payload is empty or larger than the framer allows.</exception>
    public SendStatus Send(ReadOnlySpan<byte> payload)
    {
        if (State != ConnectionState.Open)
        {
            return SendStatus.Closed;
        }

        return _middleware.Count > 0 ? SendEncoded(MiddlewarePipeline.Encode(_middleware, payload)) : SendEncoded(payload);
    }

    private SendStatus SendEncoded(ReadOnlySpan<byte> payload)
    {
        _framer.ValidatePayload(payload);
        int frameLength = _framer.GetFrameLength(payload.Length);
        if (frameLength > CoalesceBytes)
        {
            return EnqueueOwned(_framer.CreateQueuedFrame(payload, _pool));
        }

        // Small message: append it to the frame waiting at the queue's tail, or start one.
        if (_sendQueue.TryAppend(payload, _framer, frameLength, out EnqueueResult appended, out int dropped, out bool busy))
        {
            return Complete(appended, dropped);
        }

        // A burst (frames already waiting): start a frame with room for more. A lone message
        // to an idle connection gets a frame of its own size, so thousands of idle recipients
        // do not each hold a mostly empty 4 KiB buffer.
        Frame frame = Frame.RentAppendable(_pool, busy ? CoalesceBytes : frameLength);
        try
        {
            _framer.WriteFrame(payload, frame.AppendSpan(frameLength));
        }
        catch
        {
            frame.ReleaseQueueReference();
            throw;
        }

        frame.CommitAppend(frameLength);
        return EnqueueOwned(frame, dropped);
    }

    /// <summary>
    /// Frames a received message (or any sequence) and queues it, as
    /// <see cref="Send(ReadOnlySpan{byte})"/>. Handy for relaying what a handler was given.
    /// </summary>
    public SendStatus Send(in ReadOnlySequence<byte> payload)
    {
        if (payload.IsSingleSegment)
        {
            return Send(payload.FirstSpan);
        }

        // Rare: the message straddled two receive segments. Gather it once, then frame it.
        int length = checked((int)payload.Length);
        byte[] gathered = _pool.Rent(length);
        try
        {
            payload.CopyTo(gathered);
            return Send(gathered.AsSpan(0, length));
        }
        finally
        {
            _pool.Return(gathered);
        }
    }

    /// <summary>
    /// Queues a frame encoded once for many connections (see
    /// <see cref="MessageFramer.CreateFrame"/>). Takes its own reference; the caller still
    /// releases its reference when done. The frame must come from this connection's framer.
    /// </summary>
    /// <exception cref="InvalidOperationException">The caller's references to <paramref name="frame"/> were all released already.</exception>
    public SendStatus Send(Frame frame)
    {
        ArgumentNullException.ThrowIfNull(frame);
        if (State != ConnectionState.Open)
        {
            return SendStatus.Closed;
        }

        frame.AddQueueReferences(1);
        return EnqueueOwned(frame);
    }

    /// <summary>
    /// Queues <paramref name="payload"/>, waiting while the send queue is full instead of
    /// applying the slow-consumer policy: backpressure for producers that can wait.
    /// Completes when the frame is queued, not when it is written; await
    /// <see cref="FlushAsync"/> for that.
    /// </summary>
    /// <exception cref="ConnectionClosedException">The connection closed before the frame was queued.</exception>
    public ValueTask SendAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        if (State != ConnectionState.Open)
        {
            return ValueTask.FromException(new ConnectionClosedException(CloseReason));
        }

        Frame frame = _framer.CreateQueuedFrame(_middleware.Count > 0 ? MiddlewarePipeline.Encode(_middleware, payload.Span) : payload.Span, _pool);

        EnqueueResult result = _sendQueue.TryEnqueue(frame, applyPolicy: false, out _);
        return result switch
        {
            EnqueueResult.Queued => ValueTask.CompletedTask,
            EnqueueResult.NoRoom => SendWhenRoomAsync(frame, cancellationToken),
            _ => ValueTask.FromException(new ConnectionClosedException(CloseReason)),
        };
    }

    private async ValueTask SendWhenRoomAsync(Frame waiting, CancellationToken cancellationToken)
    {
        Frame? frame = waiting;
        try
        {
            while (true)
            {
                await _sendQueue.WaitForRoomAsync(frame.Length, cancellationToken).ConfigureAwait(false);
                switch (_sendQueue.TryEnqueue(frame, applyPolicy: false, out _))
                {
                    case EnqueueResult.Queued:
                        frame = null;
                        return;
                    case EnqueueResult.NoRoom:
                        continue;
                    default:
                        frame = null;
                        ThrowHelper.ThrowConnectionClosed(CloseReason);
                        return;
                }
            }
        }
        finally
        {
            // Still ours only when cancelled while waiting.
            frame?.ReleaseQueueReference();
        }
    }

    /// <summary>
    /// Completes when every frame queued before the call has been written to the transport
    /// (handed to the operating system, not yet acknowledged by the peer).
    /// </summary>
    /// <exception cref="ConnectionClosedException">The connection was aborted first.</exception>
    public Task FlushAsync(CancellationToken cancellationToken = default) => _sendQueue.FlushAsync(cancellationToken);

    /// <summary>Queues a shared frame whose reference the caller already took for this connection.</summary>
    internal SendStatus SendReferenced(Frame frame)
    {
        if (State != ConnectionState.Open)
        {
            frame.ReleaseQueueReference();
            return SendStatus.Closed;
        }

        return EnqueueOwned(frame);
    }

    /// <summary>Queues a frame whose reference the queue now owns, applying the slow-consumer policy.</summary>
    private SendStatus EnqueueOwned(Frame frame, int alreadyDropped = 0)
    {
        EnqueueResult result = _sendQueue.TryEnqueue(frame, applyPolicy: true, out int dropped);
        return Complete(result, alreadyDropped + dropped);
    }

    private SendStatus Complete(EnqueueResult result, int droppedOldest)
    {
        if (droppedOldest > 0)
        {
            OnSlowConsumer(droppedOldest);
        }

        switch (result)
        {
            case EnqueueResult.Queued:
                return SendStatus.Queued;
            case EnqueueResult.DroppedNewest:
                OnSlowConsumer(1);
                return SendStatus.QueueFull;
            case EnqueueResult.OverLimit:
                OnSlowConsumer(0);
                Abort(CloseReason.SlowConsumer);
                return SendStatus.SlowConsumerDisconnected;
            default:
                return SendStatus.Closed;
        }
    }

    private void OnSlowConsumer(int dropped)
    {
        Interlocked.Add(ref _messagesDropped, dropped);
        ParleyMetrics.RecordSlowConsumer(_options.SlowConsumerPolicy, dropped);

        // One log line per episode (until the queue drains), not one per dropped frame.
        if (Interlocked.Exchange(ref _slowConsumerEpisode, 1) == 0)
        {
            Log.SlowConsumer(_logger, Id, RemoteEndPoint, _options.MaxSendQueueBytes, _options.SlowConsumerPolicy);
        }
    }

    private async Task SendLoopAsync()
    {
        var frames = new List<Frame>(64);
        try
        {
            while (true)
            {
                long bytes = _sendQueue.Drain(frames, LargeFrame, MaxBytesPerWrite, MaxFramesPerWrite);
                if (bytes == 0)
                {
                    Volatile.Write(ref _slowConsumerEpisode, 0);
                    if (!await _sendQueue.WaitAsync().ConfigureAwait(false))
                    {
                        return;
                    }

                    continue;
                }

                if (frames.Count == 1)
                {
                    await _transport.SendAsync(frames[0].Memory).ConfigureAwait(false);
                }
                else
                {
                    // Rented for exactly this write: memory held equals bytes in flight, nothing more.
                    // Inline rather than a helper method: one long-lived state machine, no per-write box.
                    byte[] merged = _pool.Rent((int)bytes);
                    try
                    {
                        int offset = 0;
                        foreach (Frame frame in frames)
                        {
                            frame.Memory.Span.CopyTo(merged.AsSpan(offset));
                            offset += frame.Length;
                        }

                        await _transport.SendAsync(merged.AsMemory(0, (int)bytes)).ConfigureAwait(false);
                    }
                    finally
                    {
                        _pool.Return(merged);
                    }
                }

                int messages = 0;
                foreach (Frame frame in frames)
                {
                    messages += frame.MessageCount;
                    frame.ReleaseQueueReference();
                }

                frames.Clear();
                Volatile.Write(ref _lastSendTicks, _time.GetTimestamp());
                Volatile.Write(ref _bytesSent, _bytesSent + bytes);
                Volatile.Write(ref _messagesSent, _messagesSent + messages);
                ParleyMetrics.BytesSent.Add(bytes);
                ParleyMetrics.Writes.Add(1);
                ParleyMetrics.MessagesSent.Add(messages);
                _sendQueue.OnSent(bytes);
            }
        }
        catch (Exception ex)
        {
            OnTransportError(ex);
        }
        finally
        {
            foreach (Frame frame in frames)
            {
                frame.ReleaseQueueReference();
            }

            frames.Clear();
            _sendQueue.Abort(new ConnectionClosedException(CloseReason));
        }
    }
}
