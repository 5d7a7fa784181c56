using System.Runtime.CompilerServices;

namespace Parley.Udp;

// The messages this side sends, from Send to their final state: ids, the send queue, the pending
// index, the per-channel sequence windows, state queries, cancellation, the send / receive /
// delivery timeouts, and the events each state change raises.
public sealed partial class UdpPeer
{
    // Message ids: reliable ones count up from 1 below 2^31; unreliable ones have the top bit set.
    private const uint UnreliableIdBit = 0x8000_0000;

    private readonly Queue<OutgoingMessage> _sendQueue = new();
    private readonly PendingIndex _pending;
    private readonly Queue<(OutgoingMessage Message, int Version)> _awaitingDelivery = new();
    private readonly Stack<OutgoingMessage> _spareMessages = new();
    private readonly SendChannel[] _sendChannels;
    private readonly List<SendChannel> _usedSendChannels = []; // the ones that ever had reliable messages in flight
    private (uint Id, MessageState State)[]? _failures; // the last failed ids, for state queries
    private int _failureNext;
    private uint _nextReliableId = 1;
    private uint _nextUnreliableId;
    private int _pendingCount;
    private long _pendingBytes;
    private long _messagesSent;
    private int _peerMaxEnqueued = 16;

    private sealed class SendChannel
    {
        public uint NextSequence;
        public bool Used;

        // Reliable messages of this channel in sequence order, until received: the front bounds how far ahead we may send.
        public readonly Queue<(OutgoingMessage Message, int Version, uint Sequence)> InFlight = new();
    }

    private SendResult Enqueue(ReadOnlySpan<byte> data, DeliveryMode mode, byte channel)
    {
        if (State == PeerState.Disconnected || _closing)
        {
            return new SendResult(SendStatus.Closed, 0);
        }

        if (data.Length > _options.MaxMessageSize)
        {
            return new SendResult(SendStatus.TooLarge, 0);
        }

        if (channel >= _options.Channels || mode > DeliveryMode.ReliableOrdered)
        {
            return new SendResult(SendStatus.InvalidChannel, 0);
        }

        // A final state not yet taken for raising still counts: a blocked handler stops the sending, not the memory.
        if (_pendingCount + _events.FinalsQueued >= _options.MaxPendingMessages || _pendingBytes + data.Length > _options.MaxPendingBytes)
        {
            return new SendResult(SendStatus.QueueFull, 0);
        }

        OutgoingMessage message = _spareMessages.Count > 0 ? _spareMessages.Pop() : new OutgoingMessage();
        if (mode != DeliveryMode.Unreliable)
        {
            message.Id = _nextReliableId;
            if (!_pending.TryAdd(message))
            {
                _spareMessages.Push(message);
                return new SendResult(SendStatus.QueueFull, 0); // the oldest pending id is too far behind the newest
            }

            _nextReliableId = _nextReliableId + 1 >= UnreliableIdBit ? 1 : _nextReliableId + 1;
        }
        else
        {
            message.Id = UnreliableIdBit | _nextUnreliableId++;
        }

        message.Channel = channel;
        message.Mode = mode;
        message.State = MessageState.Queued;
        // Only the send timeout reads this stamp; without one (the default) a message costs no clock read.
        message.QueuedAt = _options.SendTimeout == Timeout.InfiniteTimeSpan ? 0 : _host.NowMicros;
        message.Length = data.Length;
        message.Buffer = _host.Buffers.Rent(Math.Max(1, data.Length));
        data.CopyTo(message.Buffer);

        _sendQueue.Enqueue(message);
        _pendingCount++;
        _pendingBytes += data.Length;
        _messagesSent++;
        _host.MarkDirty(this);
        return new SendResult(SendStatus.Queued, message.Id);
    }

    private MessageState StateOf(uint id)
    {
        if (_pending.Find(id) is { } message)
        {
            return message.State;
        }

        if (_failures is not null)
        {
            foreach ((uint failedId, MessageState state) in _failures)
            {
                if (failedId == id && id != 0)
                {
                    return state;
                }
            }
        }

        if ((id & UnreliableIdBit) != 0)
        {
            uint sequence = id & ~UnreliableIdBit;
            return sequence < _nextUnreliableId && _nextUnreliableId - sequence <= (uint)_options.MaxPendingMessages * 4 ? MessageState.Sent : MessageState.Unknown;
        }

        // A reliable id issued, no longer pending and not failed: it was delivered.
        return id != 0 && id < _nextReliableId && _nextReliableId - id < UnreliableIdBit / 2 ? MessageState.Delivered : MessageState.Unknown;
    }

    private bool TryCancel(uint id)
    {
        OutgoingMessage? message = _pending.Find(id);
        if (message is null || message.State != MessageState.Queued || message.NextFragment != 0)
        {
            // Unreliable ones are not in _pending; look in the queue.
            foreach (OutgoingMessage queued in _sendQueue)
            {
                if (queued.Id == id && queued.NextFragment == 0 && queued.Mode == DeliveryMode.Unreliable)
                {
                    RemoveFromSendQueue(queued);
                    Finish(queued, MessageState.Cancelled);
                    return true;
                }
            }

            return false;
        }

        RemoveFromSendQueue(message);
        Finish(message, MessageState.Cancelled);
        return true;
    }

    private void RemoveFromSendQueue(OutgoingMessage message)
    {
        int count = _sendQueue.Count;
        for (int i = 0; i < count; i++)
        {
            OutgoingMessage next = _sendQueue.Dequeue();
            if (!ReferenceEquals(next, message))
            {
                _sendQueue.Enqueue(next);
            }
        }
    }

    /// <summary>A message reached a final state: report it, forget it, recycle it.</summary>
    private void Finish(OutgoingMessage message, MessageState state)
    {
        if (message.IsReliable)
        {
            _pending.Remove(message);
        }

        _pendingCount--;
        if (message.Buffer is not null)
        {
            _pendingBytes -= message.Length;
        }

        if (state is MessageState.TimedOut or MessageState.Cancelled)
        {
            _failures ??= new (uint, MessageState)[256];
            _failures[_failureNext] = (message.Id, state);
            _failureNext = (_failureNext + 1) % _failures.Length;
        }

        uint id = message.Id;
        message.State = state;
        message.Reset(_host.Buffers);
        _spareMessages.Push(message);
        _events.Add(new PeerEvent { Kind = PeerEventKind.MessageState, Id = id, State = state }, finalState: true);
    }

    private void SetReceived(OutgoingMessage message, long now)
    {
        message.State = MessageState.Received;
        message.ReceivedAt = now;
        _pendingBytes -= message.Length;
        message.ReleasePayload(_host.Buffers);
        _awaitingDelivery.Enqueue((message, message.Version));
        RaiseState(message.Id, MessageState.Received);
    }

    /// <summary>Handles a Delivered frame: the peer's application consumed these messages.</summary>
    private void OnDelivered(ref FrameReader reader, long now)
    {
        for (int i = 0; i < reader.DeliveredCount; i++)
        {
            DeliveredRun run = reader.DeliveredAt(i);
            if (run.Count < _pending.SlotCount)
            {
                for (int k = 0; k < run.Count; k++)
                {
                    MarkDelivered(_pending.Find(run.First + (uint)k), now);
                }
            }
            else
            {
                // A run at least as long as the index: walk the slots instead of the ids, so a
                // forged run of 65 536 ids costs no more than an honest one can.
                for (int slot = 0; slot < _pending.SlotCount; slot++)
                {
                    OutgoingMessage? message = _pending.AtSlot(slot);
                    if (message is not null && message.Id - run.First < (uint)run.Count)
                    {
                        MarkDelivered(message, now);
                    }
                }
            }
        }
    }

    private void MarkDelivered(OutgoingMessage? message, long now)
    {
        if (message is not null && message.State is MessageState.Sent or MessageState.Received)
        {
            if (message.State == MessageState.Sent)
            {
                SetReceived(message, now); // delivered implies received (its ack may still be on the way)
            }

            Finish(message, MessageState.Delivered);
        }
    }

    private bool SequenceWindowOpen(OutgoingMessage message)
    {
        SendChannel channel = _sendChannels[ChannelIndex(message.Channel, message.Mode)];
        return !TryLiveFront(channel, out _) || channel.NextSequence - channel.InFlight.Peek().Sequence < (uint)_peerMaxEnqueued;
    }

    // The channel's oldest sent message not yet received; entries of received or recycled messages are dropped.
    private static bool TryLiveFront(SendChannel channel, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out OutgoingMessage? message)
    {
        while (channel.InFlight.TryPeek(out var front))
        {
            if (front.Message.Version == front.Version && front.Message.State < MessageState.Received)
            {
                message = front.Message;
                return true;
            }

            channel.InFlight.Dequeue();
        }

        message = null;
        return false;
    }

    private static int ChannelIndex(byte channel, DeliveryMode mode) => (channel * 2) + (mode == DeliveryMode.ReliableOrdered ? 1 : 0);

    private void CheckMessageTimeouts(long now)
    {
        if (_options.ReceiveTimeout != Timeout.InfiniteTimeSpan && TryOldestUnreceived(out OutgoingMessage? sent)
            && now - sent.FirstSentAt >= (long)_options.ReceiveTimeout.TotalMicroseconds)
        {
            SendClose(CloseReason.MessageTimeout);
            _host.EndSession(this, CloseReason.MessageTimeout);
            return;
        }

        while (_options.SendTimeout != Timeout.InfiniteTimeSpan && _sendQueue.TryPeek(out OutgoingMessage? queued) && queued.NextFragment == 0
            && now - queued.QueuedAt >= (long)_options.SendTimeout.TotalMicroseconds)
        {
            _sendQueue.Dequeue();
            Finish(queued, MessageState.TimedOut);
        }

        while (_options.DeliveryTimeout != Timeout.InfiniteTimeSpan && TryPeekLive(_awaitingDelivery, MessageState.Delivered, out OutgoingMessage? received)
            && now - received.ReceivedAt >= (long)_options.DeliveryTimeout.TotalMicroseconds)
        {
            _awaitingDelivery.Dequeue();
            Finish(received, MessageState.TimedOut);
        }
    }

    private long MessageDeadline()
    {
        long deadline = long.MaxValue;
        if (_options.SendTimeout != Timeout.InfiniteTimeSpan && _sendQueue.TryPeek(out OutgoingMessage? queued) && queued.NextFragment == 0)
        {
            deadline = queued.QueuedAt + (long)_options.SendTimeout.TotalMicroseconds;
        }

        if (_options.ReceiveTimeout != Timeout.InfiniteTimeSpan && TryOldestUnreceived(out OutgoingMessage? sent))
        {
            deadline = Math.Min(deadline, sent.FirstSentAt + (long)_options.ReceiveTimeout.TotalMicroseconds);
        }

        if (_options.DeliveryTimeout != Timeout.InfiniteTimeSpan && TryPeekLive(_awaitingDelivery, MessageState.Delivered, out OutgoingMessage? received))
        {
            deadline = Math.Min(deadline, received.ReceivedAt + (long)_options.DeliveryTimeout.TotalMicroseconds);
        }

        return deadline;
    }

    // The reliable message sent longest ago that the peer has not received: the oldest of the
    // used channels' in-flight fronts (each channel's in-flight queue is in first-send order).
    private bool TryOldestUnreceived([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out OutgoingMessage? oldest)
    {
        oldest = null;
        foreach (SendChannel channel in _usedSendChannels)
        {
            if (TryLiveFront(channel, out OutgoingMessage? front) && (oldest is null || front.FirstSentAt < oldest.FirstSentAt))
            {
                oldest = front;
            }
        }

        return oldest is not null;
    }

    // The oldest message of a queue that has not reached (or passed) a state; stale entries are dropped.
    private static bool TryPeekLive(Queue<(OutgoingMessage Message, int Version)> queue, MessageState reached, out OutgoingMessage message)
    {
        while (queue.TryPeek(out var front))
        {
            if (front.Message.Version == front.Version && front.Message.State < reached && front.Message.State != MessageState.Unknown)
            {
                message = front.Message;
                return true;
            }

            queue.Dequeue();
        }

        message = null!;
        return false;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void FailAllPending()
    {
        while (_sendQueue.TryDequeue(out OutgoingMessage? message))
        {
            if (message.Version >= 0 && message.State == MessageState.Queued && !message.IsReliable)
            {
                Finish(message, MessageState.TimedOut);
            }
        }

        foreach (OutgoingMessage message in _pending.ToList())
        {
            Finish(message, MessageState.TimedOut);
        }

        _recovery.Clear();
        _awaitingDelivery.Clear();
        foreach (SendChannel channel in _sendChannels)
        {
            channel.InFlight.Clear();
        }
    }

    private void RaiseState(uint id, MessageState state) => _events.Add(new PeerEvent { Kind = PeerEventKind.MessageState, Id = id, State = state });
}
