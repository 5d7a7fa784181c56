namespace Parley.Udp;

public sealed partial class UdpPeer
{
    private const int ProbeAttempts = 2;
    private const int ProbeResolution = 16;

    // Handshake (initiator side).
    internal byte[]? Cookie;
    internal long HandshakeStartedAt;
    internal long NextHandshakeAt = long.MaxValue;
    internal long HandshakeInterval;

    // Path-MTU probing: a binary search between the confirmed size and the ceiling.
    private int _probeCeiling;
    private int _probeSize;          // the size of the probe in flight (0 when none)
    private int _probeFailures;
    private bool _ceilingTried;
    private long _nextProbeAt = long.MaxValue;

    // The host's timer queue position.
    internal long ScheduledAt = long.MaxValue;
    internal bool InDirtyList;

    // A graceful disconnect: no new messages; the Close goes when nothing is pending or at _closeAt.
    private bool _closing;
    private long _closeAt = long.MaxValue;
    private TaskCompletionSource<bool>? _closeWaiter;

    /// <summary>The session is up: its keys and limits from the handshake, timers started, probing begins.</summary>
    internal void Establish(uint remoteSessionId, PacketProtection protection, uint peerWindow, int peerMaxEnqueued, int peerMaxPacket, long now)
    {
        RemoteSessionId = remoteSessionId;
        _protection = protection;
        _handshakeKey?.Dispose();
        _handshakeKey = null;
        Cookie = null;
        State = PeerState.Connected;
        _sendLimit = peerWindow;
        _peerMaxEnqueued = Math.Clamp(peerMaxEnqueued, 16, 1 << 20);
        _probeCeiling = Math.Min(_options.MaxPacketSize, Math.Max(_options.MinPacketSize, peerMaxPacket));
        _advertisedLimit = (uint)_options.ReceiveWindowBytes;
        _lastReceivedAt = now;
        _lastHeartbeatAt = now;
        _pacingUpdatedAt = now;
        NextHandshakeAt = long.MaxValue;
        if (_options.MtuProbing && _probeCeiling > _packetSize)
        {
            _nextProbeAt = now;
        }
    }

    /// <summary>The session ended: everything pending fails, buffers go back. Idempotent.</summary>
    internal void Terminate(DisconnectReason reason)
    {
        if (State == PeerState.Disconnected)
        {
            return;
        }

        State = PeerState.Disconnected;
        DisconnectReason = reason;
        bool drained = _closing && _pendingCount == 0 && reason == DisconnectReason.Local;
        FailAllPending();
        _closeWaiter?.TrySetResult(drained);
        ReleaseReceiveBuffers();
        _deliveredToSend.Clear();
        _deliveredOpen = default;
        _deliveredResendDue = false;

        // An ended peer object may live on (in PeerChange records, in the application): it keeps
        // none of the session's memory — buffers back to the pools, arrays and keys let go.
        _protection?.Dispose();
        _protection = null;
        _handshakeKey?.Dispose();
        _handshakeKey = null;
        AcceptPacket = null;
        Cookie = null;
        _pathCandidate = null;
        _log.Release();
        _pending.Release();
        _spareMessages.Clear();
        _deliveredToSend.TrimExcess();
        _retransmitQueue.TrimExcess();
        _sendQueue.TrimExcess();
        _received.Reset(_largestReceived + 1);
        foreach (SendChannel channel in _sendChannels)
        {
            channel.InFlight.TrimExcess();
        }
    }

    internal void UpdateAddress(System.Net.SocketAddress address)
    {
        Address = address;
        RemoteEndPoint = (System.Net.IPEndPoint)new System.Net.IPEndPoint(System.Net.IPAddress.Any, 0).Create(address);
    }

    /// <summary>Tests: packet numbers from here on start at <paramref name="next"/> both ways (the other side calls it too). Only when nothing is in flight.</summary>
    internal void StartPacketNumbersAt(long next)
    {
        lock (_host.Gate)
        {
            if (_log.Count != 0)
            {
                throw new InvalidOperationException("packets are in flight");
            }

            _nextPacketNumber = next;
            _received.Reset(next);
            _largestReceived = next - 1;
            _protection?.JumpTo(next);
        }
    }

    internal long NextPacketNumber => _nextPacketNumber;

    /// <summary>
    /// Tests: a Data packet of this session carrying <paramref name="frames"/>, sealed as this side
    /// seals its own (the next packet number, the session's protection), for a test that plays a
    /// peer holding a valid session but sending what an honest one never would.
    /// </summary>
    internal byte[] SealForTest(ReadOnlySpan<byte> frames)
    {
        lock (_host.Gate)
        {
            byte[] packet = new byte[PacketCodec.SessionOverhead + frames.Length];
            frames.CopyTo(packet.AsSpan(PacketCodec.HeaderSize));
            long number = _nextPacketNumber++;
            SealPacket(packet, PacketType.Data, frames.Length, number);
            _log.AddSettled(number);
            return packet;
        }
    }

    /// <summary>
    /// Bytes of arrays and buffers this peer object holds now (its packet log, pending index,
    /// receive state, reassembly and reorder buffers, spare message objects): what an ended
    /// session still costs while something (a <see cref="PeerChange"/>, the application) refers to it.
    /// </summary>
    internal long RetainedBytes
    {
        get
        {
            lock (_host.Gate)
            {
                long bytes = _log.CapacityBytes + ((long)_pending.SlotCount * IntPtr.Size) + _reliableAssembly.RentedBytes + _unreliableAssembly.RentedBytes + _bufferedBytes + _waitingExtraBytes;
                bytes += _spareMessages.Count * 128L;
                bytes += _protection is null ? 0 : 1024; // two AES-GCM contexts and their secrets, about
                return bytes;
            }
        }
    }

    /// <summary>Reliable fragmented messages this peer is reassembling now.</summary>
    internal int ReliableReassemblies
    {
        get
        {
            lock (_host.Gate)
            {
                return _reliableAssembly.Incomplete;
            }
        }
    }

    internal bool IsActiveAt(long now) => State == PeerState.Connected && now - _lastReceivedAt < (long)_options.StartHeartbeatTimeout.TotalMicroseconds;

    private long _lastProbeTimeoutAt;

    // The timeout runs from the later of the oldest outstanding packet and the last probe timeout (the backoff then spaces probes).
    private long OldestOutstandingSentAt() => Math.Max(_log.At(0).SentAt, _lastProbeTimeoutAt);

    /// <summary>The earliest time this peer needs attention without new input.</summary>
    internal long NextDeadline()
    {
        if (State == PeerState.Connecting)
        {
            return NextHandshakeAt;
        }

        if (State != PeerState.Connected)
        {
            return long.MaxValue;
        }

        long deadline = _lastReceivedAt + (long)_options.HeartbeatTimeout.TotalMicroseconds;
        long silentFrom = _lastReceivedAt + (long)_options.StartHeartbeatTimeout.TotalMicroseconds;
        deadline = Math.Min(deadline, Math.Max(silentFrom, _lastHeartbeatAt + (long)_options.HeartbeatDelay.TotalMicroseconds));
        if (_ackPending && !_ackNow)
        {
            deadline = Math.Min(deadline, _ackDeadline);
        }

        if (_log.Count > 0)
        {
            deadline = Math.Min(deadline, OldestOutstandingSentAt() + RtoMicros);
        }

        deadline = Math.Min(deadline, _lossTime);
        if (_closing)
        {
            deadline = Math.Min(deadline, _closeAt);
        }

        if (_pacingNextAt > 0 && HasDataToSend() && _congestion.CanSend(_packetSize))
        {
            deadline = Math.Min(deadline, _pacingNextAt);
        }

        if (_creditBlocked && _log.Count == 0)
        {
            deadline = Math.Min(deadline, _creditBlockedSince + RtoMicros);
        }

        if (_gapSince != long.MaxValue && !_gapNacked)
        {
            deadline = Math.Min(deadline, _gapSince + NackDelayMicros);
        }

        deadline = Math.Min(deadline, _nextProbeAt);
        deadline = Math.Min(deadline, _pathChallengeAt);
        deadline = Math.Min(deadline, _unreliableAssembly.NextExpiry);
        deadline = Math.Min(deadline, MessageDeadline());
        return deadline;
    }

    /// <summary>The timers, for diagnosing a peer that wants attention it does not take (tests).</summary>
    internal string DescribeTimers()
    {
        lock (_host.Gate)
        {
            return $"{this}: now {_host.NowMicros} next {NextDeadline()} ack {_ackPending}/{_ackNow}/{_ackDeadline} log {_log.Count}/{(_log.Count > 0 ? _log.At(0).SentAt : 0)} rto {_rtt.Rto} loss {_lossTime} pace {_pacingNextAt} credit {_creditBlocked}/{_creditBlockedSince} gap {_gapSince}/{_gapNacked} probe {_nextProbeAt} msg {MessageDeadline()} hb {_lastReceivedAt}/{_lastHeartbeatAt} queue {_sendQueue.Count} rtx {_retransmitQueue.Count} cwnd {_congestion.Window}/{_congestion.BytesInFlight}";
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

    /// <summary>A graceful disconnect whose messages are all final, or whose time is up, ends here: true when it did.</summary>
    private bool TryFinishClosing(long now)
    {
        if (!_closing || (_pendingCount > 0 && now < _closeAt))
        {
            return false;
        }

        SendClose(DisconnectReason.Remote);
        _host.EndSession(this, DisconnectReason.Local);
        return true;
    }

    /// <summary>Runs whatever is due at <paramref name="now"/>.</summary>
    internal void OnTimer(long now)
    {
        if (State != PeerState.Connected)
        {
            return;
        }

        if (now - _lastReceivedAt >= (long)_options.HeartbeatTimeout.TotalMicroseconds)
        {
            _host.EndSession(this, DisconnectReason.Timeout);
            return;
        }

        if (now - _lastReceivedAt >= (long)_options.StartHeartbeatTimeout.TotalMicroseconds && now - _lastHeartbeatAt >= (long)_options.HeartbeatDelay.TotalMicroseconds)
        {
            _heartbeatDue = true;
        }

        if (_log.Count > 0 && now - OldestOutstandingSentAt() >= RtoMicros)
        {
            OnRetransmissionTimeout(now);
            _lastProbeTimeoutAt = now;
        }

        if (_lossTime <= now)
        {
            DetectLosses(now);
            _log.TrimSettled();
        }

        if (_creditBlocked && _log.Count == 0 && now - _creditBlockedSince >= RtoMicros)
        {
            _heartbeatDue = true; // the window update may have been lost: an eliciting packet brings a fresh one
            _creditBlockedSince = now;
        }

        if (_gapSince != long.MaxValue && !_gapNacked && now - _gapSince >= NackDelayMicros)
        {
            if (_received.TryGetLowestGap(out long first, out long count) && first == _gapFirst)
            {
                _nackFirst = first;
                _nackCount = (ushort)Math.Min(count, ushort.MaxValue);
                _nackDue = true;
            }

            _gapNacked = true;
        }

        _unreliableAssembly.ExpireStale(now); // on the clock: a peer that stops sending does not keep its stale fragments
        CheckMessageTimeouts(now);
    }

    private void CheckMessageTimeouts(long now)
    {
        if (_options.ReceiveTimeout != Timeout.InfiniteTimeSpan && TryOldestUnreceived(out OutgoingMessage? sent)
            && now - sent.FirstSentAt >= (long)_options.ReceiveTimeout.TotalMicroseconds)
        {
            SendClose(DisconnectReason.MessageTimeout);
            _host.EndSession(this, DisconnectReason.MessageTimeout);
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

    /// <summary>Sends the next path-MTU probe when one is due: a padded packet of the size being tried.</summary>
    private void TryStartProbe(long now)
    {
        if (_probeSize != 0 || now < _nextProbeAt || State != PeerState.Connected)
        {
            return;
        }

        _nextProbeAt = long.MaxValue;
        if (_probeCeiling - _packetSize < ProbeResolution)
        {
            return; // search finished
        }

        // First try the ceiling (often right on loopback and LANs), then halve the interval.
        _probeSize = _ceilingTried ? (_packetSize + _probeCeiling + 1) / 2 : _probeCeiling;
        byte[] buffer = _host.Buffers.Rent(_probeSize);
        Span<byte> packet = buffer.AsSpan(0, _probeSize);
        int padding = _probeSize - PacketCodec.SessionOverhead;
        packet.Slice(PacketCodec.HeaderSize, padding).Clear();
        long number = _nextPacketNumber++;
        int size = SealPacket(packet, PacketType.Probe, padding, number);
        _log.Add(number, now, size, _log.ItemTail, isProbe: true);
        Emit(buffer, size);
    }

    private void OnProbeAcked(int size)
    {
        _packetSize = Math.Max(_packetSize, size);
        _congestion.OnPacketSizeChanged(_packetSize);
        _probeSize = 0;
        _probeFailures = 0;
        _nextProbeAt = _host.NowMicros;
        _host.MarkDirty(this);
    }

    private void OnProbeLost(int size)
    {
        _probeSize = 0;
        _ceilingTried |= _probeFailures + 1 >= ProbeAttempts;
        if (++_probeFailures >= ProbeAttempts)
        {
            _probeCeiling = size - 1; // that size does not get through: search below it
            _probeFailures = 0;
        }

        _nextProbeAt = _host.NowMicros;
        _host.MarkDirty(this);
    }

    private UdpStatistics Snapshot() => new()
    {
        PacketsSent = _packetsSent,
        PacketsReceived = _packetsReceived,
        BytesSent = _bytesSent,
        BytesReceived = _bytesReceived,
        MessagesSent = _messagesSent,
        MessagesReceived = _messagesReceived,
        PayloadBytesReceived = _payloadReceived,
        Retransmissions = _retransmissions,
        MessagesRetransmitted = _messagesRetransmitted,
        MaxRetransmissionsPerMessage = _maxRetransmits,
        PacketsLost = _packetsLost,
        Timeouts = _timeouts,
        DuplicatePackets = _duplicatePackets,
        DuplicateMessages = _duplicateMessages,
        PacketsDropped = _packetsDropped,
        SmoothedRtt = _rtt.SmoothedRtt,
        RttVariation = _rtt.RttVariation,
        Rto = _rtt.Rto,
        CongestionWindow = _congestion.Window,
        BytesInFlight = _congestion.BytesInFlight,
        SendCredit = CreditLeft,
        QueuedMessages = _sendQueue.Count,
        PendingMessages = _pendingCount,
        PendingBytes = _pendingBytes,
        BufferedReceiveBytes = _bufferedBytes + _waitingExtraBytes + _reliableAssembly.ReservedBytes + _unreliableAssembly.RentedBytes,
        PacketSize = _packetSize,
    };
}
