using System.Runtime.CompilerServices;

namespace Parley.Udp;

public sealed partial class UdpPeer
{
    // Message ids: reliable ones count up from 1 below 2^31; unreliable ones have the top bit set.
    private const uint UnreliableIdBit = 0x8000_0000;
    private const int PacketThreshold = 3; // RFC 9002's kPacketThreshold
    private const int MaxAckRanges = 32;

    private readonly Queue<OutgoingMessage> _sendQueue = new();
    private readonly Queue<FragmentRef> _retransmitQueue = new();
    private readonly PendingIndex _pending;
    private readonly Queue<(OutgoingMessage Message, int Version)> _awaitingDelivery = new();
    private readonly Stack<OutgoingMessage> _spareMessages = new();
    private readonly SendChannel[] _sendChannels;
    private readonly SentPacketLog _log = new();
    private readonly RttEstimator _rtt;
    private readonly CongestionController _congestion;
    private (uint Id, MessageState State)[]? _failures; // the last failed ids, for state queries
    private int _failureNext;

    private uint _nextReliableId = 1;
    private uint _nextUnreliableId;
    private long _nextPacketNumber = 1; // 64-bit inside; the low 32 bits on the wire
    private long _largestAcked;
    private bool _anyAcked;
    private long _lossTime = long.MaxValue;
    private int _pendingCount;
    private long _pendingBytes;
    private int _packetSize;

    // Flow control: the peer lets us send reliable data bytes up to _sendLimit (mod 2^32).
    private uint _sentReliableBytes;
    private uint _sendLimit;
    private bool _creditBlocked;
    private bool _probeTimeoutSend;
    private long _creditBlockedSince;

    // Pacing (token bucket refilled at 1.25 × window per smoothed RTT).
    private double _pacingTokens;
    private long _pacingUpdatedAt;
    private long _pacingNextAt;

    private long _packetsSent, _bytesSent, _messagesSent, _retransmissions, _packetsLost, _timeouts, _messagesRetransmitted;
    private int _maxRetransmits;

    private readonly List<SendChannel> _usedSendChannels = []; // the ones that ever had reliable messages in flight

    private sealed class SendChannel
    {
        public uint NextSequence;
        public bool Used;

        // Reliable messages of this channel in sequence order, until received: the front bounds how far ahead we may send.
        public readonly Queue<(OutgoingMessage Message, int Version, uint Sequence)> InFlight = new();
    }

    private uint CreditLeft => _sendLimit - _sentReliableBytes; // wraps correctly while the window is < 2 GiB

    private SendResult Enqueue(ReadOnlySpan<byte> data, DeliveryMode mode, byte channel)
    {
        if (State == PeerState.Disconnected || _closing)
        {
            return new SendResult(UdpSendStatus.NotConnected, 0);
        }

        if (data.Length > _options.MaxMessageSize)
        {
            return new SendResult(UdpSendStatus.TooLarge, 0);
        }

        if (channel >= _options.Channels || mode > DeliveryMode.ReliableOrdered)
        {
            return new SendResult(UdpSendStatus.BadChannel, 0);
        }

        if (_pendingCount >= _options.MaxPendingMessages || _pendingBytes + data.Length > _options.MaxPendingBytes)
        {
            return new SendResult(UdpSendStatus.QueueFull, 0);
        }

        OutgoingMessage message = _spareMessages.Count > 0 ? _spareMessages.Pop() : new OutgoingMessage();
        if (mode != DeliveryMode.Unreliable)
        {
            message.Id = _nextReliableId;
            if (!_pending.TryAdd(message))
            {
                _spareMessages.Push(message);
                return new SendResult(UdpSendStatus.QueueFull, 0); // the oldest pending id is too far behind the newest
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
        return new SendResult(UdpSendStatus.Queued, message.Id);
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
        _host.RaiseMessageState(this, id, state);
    }

    private void SetReceived(OutgoingMessage message, long now)
    {
        message.State = MessageState.Received;
        message.ReceivedAt = now;
        _pendingBytes -= message.Length;
        message.ReleasePayload(_host.Buffers);
        _awaitingDelivery.Enqueue((message, message.Version));
        _host.RaiseMessageState(this, message.Id, MessageState.Received);
    }

    /// <summary>Writes and sends every packet that is due now: acknowledgements, confirmations, retransmissions and new data as far as the windows allow.</summary>
    internal void Flush(long now)
    {
        if (State != PeerState.Connected || TryFinishClosing(now))
        {
            return;
        }

        _pacingNextAt = 0; // set again below only if pacing is what holds data back
        for (int guard = 0; guard < 4096; guard++)
        {
            bool control = _ackNow || (_ackPending && now >= _ackDeadline) || _echoPending != 0 || _heartbeatDue || _nackDue || _deliveredResendDue || _windowUpdateDue || _pathResponseDue;
            bool data = HasDataToSend() && ((_congestion.CanSend(_packetSize) && PacingAllows(now)) || _probeTimeoutSend);
            if (!control && !data)
            {
                break;
            }

            if (!WritePacket(now, data))
            {
                break;
            }
        }

        TryStartProbe(now);
        SendPathChallengeIfDue(now);
    }

    private bool HasDataToSend() => _retransmitQueue.Count > 0 || (_sendQueue.Count > 0 && !_creditBlocked);

    private bool WritePacket(long now, bool includeData)
    {
        // Built straight into the pooled buffer that the send loop sends and returns: no copy.
        byte[] buffer = _host.Buffers.Rent(_packetSize);
        Span<byte> packet = buffer.AsSpan(0, _packetSize);
        var writer = new FrameWriter(packet.Slice(PacketCodec.HeaderSize, _packetSize - PacketCodec.SessionOverhead));
        long itemStart = _log.ItemTail;
        bool elicits = false;

        if (_ackPending || _ackNow || _windowUpdateDue)
        {
            WriteAck(ref writer, now);
        }

        if (_echoPending != 0 && writer.TryWriteHeartbeat(now, _echoPending))
        {
            _echoPending = 0;
        }

        if (_heartbeatDue && writer.TryWriteHeartbeat(now, 0))
        {
            _heartbeatDue = false;
            _lastHeartbeatAt = now;
            elicits = true;
        }

        if (_nackDue && writer.TryWriteNack((uint)_nackFirst, _nackCount))
        {
            _nackDue = false;
        }

        if (_pathResponseDue && writer.TryWritePathFrame(FrameType.PathResponse, _pathResponseToken))
        {
            _pathResponseDue = false;
        }

        elicits |= WriteDelivered(ref writer);
        if (includeData)
        {
            elicits |= WriteRetransmissions(ref writer);
            elicits |= WriteNewMessages(ref writer, now);
        }

        if (writer.Written == 0)
        {
            _host.Buffers.Return(buffer);
            return false;
        }

        long number = _nextPacketNumber++;
        int size = SealPacket(packet, PacketType.Data, writer.Written, number);
        if (elicits)
        {
            _log.Add(number, now, size, itemStart, isProbe: false);
            _congestion.OnSent(size, number);
            _pacingTokens -= size;
        }
        else
        {
            _log.AddSettled(number); // acknowledgements are not acknowledged, but the number keeps its place
        }

        _probeTimeoutSend = false; // one packet past the windows per probe timeout
        Emit(buffer, size);
        return true;
    }

    private void WriteAck(ref FrameWriter writer, long now)
    {
        Span<AckRange> ranges = stackalloc AckRange[MaxAckRanges];
        int room = (writer.Remaining - 4 - 5) / 8;
        int count = _received.WriteRanges(ranges[..Math.Min(MaxAckRanges, Math.Max(0, room))]);
        long delay = Math.Clamp((now - _largestReceivedAt) / 100, 0, ushort.MaxValue);
        if (count > 0 && writer.TryWriteAck(ranges[..count], (ushort)delay))
        {
            _ackPending = false;
            _ackNow = false;
            _ackElicitingSinceAck = 0;
            _ackDeadline = long.MaxValue;
        }

        uint limit = _consumedBytes + (uint)_options.ReceiveWindowBytes;
        if (writer.TryWriteWindow(limit))
        {
            _advertisedLimit = limit;
            _windowUpdateDue = false;
        }
    }

    private bool WriteDelivered(ref FrameWriter writer)
    {
        if (_deliveredOpen.Count > 0)
        {
            _deliveredToSend.Enqueue(_deliveredOpen);
            _deliveredOpen = default;
        }

        bool wrote = false;
        Span<DeliveredRun> runs = stackalloc DeliveredRun[64];
        while (_deliveredToSend.Count > 0)
        {
            int count = Math.Min(Math.Min(runs.Length, _deliveredToSend.Count), (writer.Remaining - 2) / DeliveredRun.EncodedSize);
            if (count <= 0)
            {
                break;
            }

            for (int i = 0; i < count; i++)
            {
                runs[i] = _deliveredToSend.Dequeue();
                _log.AddItem(new SentItem { Delivered = runs[i] });
            }

            writer.TryWriteDelivered(runs[..count]);
            wrote = true;
        }

        _deliveredResendDue &= _deliveredToSend.Count > 0;
        return wrote;
    }

    private bool WriteRetransmissions(ref FrameWriter writer)
    {
        bool wrote = false;
        while (_retransmitQueue.TryPeek(out FragmentRef fragment))
        {
            if (!fragment.IsLive)
            {
                _retransmitQueue.Dequeue();
                continue;
            }

            OutgoingMessage message = fragment.Message;
            var frame = new MessageFrame(message.Channel, message.Mode, message.Id, message.Sequence, fragment.Fragment, message.Fragments, message.FragmentData(fragment.Fragment), (uint)message.Length);
            if (!writer.TryWriteMessage(frame))
            {
                break;
            }

            _retransmitQueue.Dequeue();
            _log.AddItem(new SentItem { Message = message, Version = fragment.Version, Fragment = fragment.Fragment });
            _retransmissions++;
            if (message.Retransmits++ == 0)
            {
                _messagesRetransmitted++;
            }

            _maxRetransmits = Math.Max(_maxRetransmits, message.Retransmits);
            wrote = true;
        }

        return wrote;
    }

    private bool WriteNewMessages(ref FrameWriter writer, long now)
    {
        bool wrote = false;
        int capacity = _packetSize - PacketCodec.SessionOverhead;
        while (_sendQueue.TryPeek(out OutgoingMessage? message))
        {
            if (message.NextFragment == 0 && message.Fragments == 0)
            {
                if (message.IsReliable && !SequenceWindowOpen(message))
                {
                    break;
                }

                message.Fragment(capacity - MessageFrame.FragmentHeaderSize, capacity - MessageFrame.HeaderSize);
                message.FirstSentAt = now;
                if (message.IsReliable)
                {
                    SendChannel channel = _sendChannels[ChannelIndex(message.Channel, message.Mode)];
                    message.Sequence = channel.NextSequence++;
                    channel.InFlight.Enqueue((message, message.Version, message.Sequence));
                    if (!channel.Used)
                    {
                        channel.Used = true;
                        _usedSendChannels.Add(channel);
                    }
                }
            }

            // Credit: a whole message's worth, taken with its first fragment (the receiver charges a
            // reassembly its declared size when it starts); the later fragments need none.
            ReadOnlySpan<byte> data = message.FragmentData(message.NextFragment);
            uint credit = !message.IsReliable ? 0u : message.Fragments == 1 ? (uint)data.Length : message.NextFragment == 0 ? (uint)message.Length : 0u;
            if (credit > CreditLeft)
            {
                _creditBlocked = true;
                _creditBlockedSince = now;
                break;
            }

            var frame = new MessageFrame(message.Channel, message.Mode, message.Id, message.Sequence, message.NextFragment, message.Fragments, data, (uint)message.Length);
            if (!writer.TryWriteMessage(frame))
            {
                break;
            }

            wrote = true;
            if (message.IsReliable)
            {
                _sentReliableBytes += credit;
                _log.AddItem(new SentItem { Message = message, Version = message.Version, Fragment = message.NextFragment });
            }

            if (++message.NextFragment < message.Fragments)
            {
                continue; // the next fragment goes into the next packet
            }

            _sendQueue.Dequeue();
            if (message.IsReliable)
            {
                if (message.State == MessageState.Queued)
                {
                    message.State = MessageState.Sent;
                    _host.RaiseMessageState(this, message.Id, MessageState.Sent);
                }
            }
            else
            {
                Finish(message, MessageState.Sent);
            }
        }

        return wrote;
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

    // The latest round trip is well above the path's minimum: a queue is forming somewhere.
    private bool QueueBuilding => !_rtt.HasSample || _rtt.LatestRtt > (_rtt.MinRtt * 5 / 4) + TimeSpan.FromMilliseconds(1);

    // The retransmission timeout plus the peer's allowed ack delay (RFC 9002's PTO does the same): without it, a
    // steady path with little variance times out on every delayed acknowledgement.
    private long RtoMicros => (long)(_rtt.Rto + _options.MaxAckDelay).TotalMicroseconds;

    private bool PacingAllows(long now)
    {
        if (!_rtt.HasSample || _rtt.SmoothedRtt <= TimeSpan.Zero)
        {
            return true;
        }

        double rate = _congestion.Window * 1.25 / Math.Max(1, _rtt.SmoothedRtt.TotalMicroseconds); // bytes per µs
        double burst = Math.Max(10.0 * _packetSize, rate * 1000);
        _pacingTokens = Math.Min(burst, _pacingTokens + ((now - _pacingUpdatedAt) * rate));
        _pacingUpdatedAt = now;
        if (_pacingTokens >= _packetSize)
        {
            _pacingNextAt = 0;
            return true;
        }

        _pacingNextAt = now + (long)Math.Ceiling((_packetSize - _pacingTokens) / rate);
        return false;
    }

    // Hands a pooled buffer holding a datagram to the host's outbox (which returns it after sending).
    private void Emit(byte[] buffer, int length)
    {
        _packetsSent++;
        _bytesSent += length;
        _host.EmitOwned(Address, buffer, length);
    }

    /// <summary>Handles an Ack frame: settles packets, samples RTT, grows the window, detects losses.</summary>
    private void OnAck(ref FrameReader reader, long now)
    {
        if (_log.Count == 0)
        {
            return;
        }

        long first = _log.FirstNumber;
        long last = first + _log.Count - 1;
        long largestSent = _nextPacketNumber - 1;
        long largestInFrame = PacketCodec.ExpandPacketNumber(reader.AckRangeAt(0).Last, largestSent);
        long largestNewlySentAt = -1;
        for (int r = 0; r < reader.AckRangeCount; r++)
        {
            // The wire has the low 32 bits: a range's end is expanded against the largest number
            // sent, its start is that less the range's length (which may cross a 2^32 boundary).
            AckRange range = reader.AckRangeAt(r);
            long rangeLast = PacketCodec.ExpandPacketNumber(range.Last, largestSent);
            long rangeFirst = rangeLast - (range.Last - range.First);
            if (rangeLast < first || rangeFirst > last)
            {
                continue;
            }

            for (long number = Math.Max(rangeFirst, first); number <= Math.Min(rangeLast, last); number++)
            {
                ref SentPacket packet = ref _log.Find(number);
                if (packet.Outcome != 0)
                {
                    continue;
                }

                packet.Outcome = 1;
                if (!packet.IsProbe)
                {
                    _congestion.OnAcked(number, packet.Size, QueueBuilding);
                }

                if (number == largestInFrame)
                {
                    largestNewlySentAt = packet.SentAt;
                }

                OnPacketAcked(ref packet, now);
            }
        }

        if (!_anyAcked || largestInFrame > _largestAcked)
        {
            _largestAcked = Math.Min(largestInFrame, last);
            _anyAcked = true;
        }

        if (largestNewlySentAt >= 0)
        {
            _rtt.AddSample(TimeSpan.FromMicroseconds(Math.Max(0, now - largestNewlySentAt - (reader.AckDelay * 100L))));
        }

        DetectLosses(now);
        _log.TrimSettled();
        _host.MarkDirty(this); // the window may have opened
    }

    private void OnPacketAcked(ref SentPacket packet, long now)
    {
        if (packet.IsProbe)
        {
            OnProbeAcked(packet.Size);
            return;
        }

        for (long i = packet.ItemStart; i < packet.ItemStart + packet.ItemCount; i++)
        {
            ref SentItem item = ref _log.Item(i);
            OutgoingMessage? message = item.Message;
            if (message is null || message.Version != item.Version || message.State is not (MessageState.Queued or MessageState.Sent))
            {
                continue;
            }

            if (message.MarkAcked(item.Fragment))
            {
                SetReceived(message, now);
            }
        }
    }

    /// <summary>Declares lost what the acknowledgements imply is lost (RFC 9002 §6.1: three packets or 9/8 RTT behind).</summary>
    private void DetectLosses(long now)
    {
        _lossTime = long.MaxValue;
        if (!_anyAcked)
        {
            return;
        }

        long lossDelay = (long)Math.Max(1000, Math.Max(_rtt.SmoothedRtt.TotalMicroseconds, _rtt.LatestRtt.TotalMicroseconds) * 9 / 8);
        for (int i = 0; i < _log.Count; i++)
        {
            ref SentPacket packet = ref _log.At(i);
            if (packet.Number >= _largestAcked)
            {
                break;
            }

            if (packet.Outcome != 0)
            {
                continue;
            }

            if (_largestAcked - packet.Number >= PacketThreshold || now - packet.SentAt >= lossDelay)
            {
                DeclareLost(ref packet);
            }
            else
            {
                _lossTime = Math.Min(_lossTime, packet.SentAt + lossDelay);
            }
        }
    }

    private void DeclareLost(ref SentPacket packet)
    {
        packet.Outcome = 2;
        if (packet.IsProbe)
        {
            OnProbeLost(packet.Size); // a probe too large for the path says nothing about congestion
            return;
        }

        _packetsLost++;
        _congestion.OnLost(packet.Number, packet.Size, _nextPacketNumber - 1, QueueBuilding);

        for (long i = packet.ItemStart; i < packet.ItemStart + packet.ItemCount; i++)
        {
            ref SentItem item = ref _log.Item(i);
            if (item.Message is null)
            {
                _deliveredToSend.Enqueue(item.Delivered); // the confirmation is sent again, at once
                _deliveredResendDue = true;
                continue;
            }

            var fragment = new FragmentRef(item.Message, item.Version, item.Fragment);
            if (fragment.IsLive)
            {
                _retransmitQueue.Enqueue(fragment);
            }
        }

        _host.MarkDirty(this);
    }

    /// <summary>
    /// The probe timeout fired (RFC 9002 §6.2): nothing was acknowledged for a timeout. The data
    /// of the oldest outstanding packet goes out again in a probe that may exceed the congestion
    /// window, and the timeout doubles. Nothing is declared lost here — a late acknowledgement
    /// (a jittery path, a busy host) costs one duplicate, not a collapsed window; loss is declared
    /// by acknowledgement evidence once the probe is acknowledged.
    /// </summary>
    private void OnRetransmissionTimeout(long now)
    {
        _timeouts++;
        _rtt.Backoff();
        bool resent = false;
        for (int i = 0; i < _log.Count && !resent; i++)
        {
            ref SentPacket packet = ref _log.At(i);
            if (packet.Outcome != 0 || packet.IsProbe)
            {
                continue;
            }

            for (long k = packet.ItemStart; k < packet.ItemStart + packet.ItemCount; k++)
            {
                ref SentItem item = ref _log.Item(k);
                if (item.Message is null)
                {
                    _deliveredToSend.Enqueue(item.Delivered);
                    _deliveredResendDue = true;
                    resent = true;
                    continue;
                }

                var fragment = new FragmentRef(item.Message, item.Version, item.Fragment);
                if (fragment.IsLive)
                {
                    _retransmitQueue.Enqueue(fragment);
                    resent = true;
                }
            }
        }

        if (!resent)
        {
            _heartbeatDue = true; // nothing left to resend: an ack-eliciting heartbeat asks for the acknowledgement
        }

        _probeTimeoutSend = true;
        _host.MarkDirty(this);
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

        _retransmitQueue.Clear();
        _awaitingDelivery.Clear();
        foreach (SendChannel channel in _sendChannels)
        {
            channel.InFlight.Clear();
        }

        _log.Clear();
    }
}
