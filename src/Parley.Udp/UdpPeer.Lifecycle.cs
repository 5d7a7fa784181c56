namespace Parley.Udp;

// The session's life: establishment, the timers (liveness, recovery, credit, Nack, probing, path
// validation, message timeouts), graceful closing, the end, statistics and test hooks.
public sealed partial class UdpPeer
{
    // Handshake (initiator side).
    internal byte[]? Cookie;
    internal long HandshakeStartedAt;
    internal long NextHandshakeAt = long.MaxValue;
    internal long HandshakeInterval;

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
        _sendCredit.Start(peerWindow);
        _peerMaxEnqueued = Math.Clamp(peerMaxEnqueued, 16, 1 << 20);
        _lastReceivedAt = now;
        _lastHeartbeatAt = now;
        _pacer.Start(now);
        NextHandshakeAt = long.MaxValue;
        _mtu.Start(Math.Min(_options.MaxPacketSize, Math.Max(_options.MinPacketSize, peerMaxPacket)), _packetSize, _options.MtuProbing, now);
    }

    /// <summary>The session ended: everything pending fails, buffers go back. Idempotent.</summary>
    internal void Terminate(CloseReason reason)
    {
        if (State == PeerState.Disconnected)
        {
            return;
        }

        State = PeerState.Disconnected;
        CloseReason = reason;
        bool drained = _closing && _pendingCount == 0 && reason == CloseReason.LocalClose;
        FailAllPending();
        _closeWaiter?.TrySetResult(drained);
        _inbound.Release();
        if (!_leftReassemblyShare)
        {
            _leftReassemblyShare = true;
            _host.ReassemblyBudget.Leave(_reassemblyShare);
        }

        _delivered.Release();

        // An ended peer object may live on (in PeerChange records, in the application): it keeps
        // none of the session's memory — buffers back to the pools, arrays and keys let go.
        // Messages already queued for the application keep theirs until their handlers ran.
        _protection?.Dispose();
        _protection = null;
        _handshakeKey?.Dispose();
        _handshakeKey = null;
        AcceptPacket = null;
        Cookie = null;
        _pathCandidate = null;
        _recovery.Release();
        _pending.Release();
        _spareMessages.Clear();
        _sendQueue.TrimExcess();
        _acks.Reset(_acks.LargestReceived + 1);
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

    /// <summary>The peer's events, queued for the application (the host's handshake and path code add to it).</summary>
    internal PeerEventQueue Events => _events;

    /// <summary>Tests: packet numbers from here on start at <paramref name="next"/> both ways (the other side calls it too). Only when nothing is in flight.</summary>
    internal void StartPacketNumbersAt(long next)
    {
        lock (_host.Gate)
        {
            _recovery.JumpTo(next);
            _acks.Reset(next);
            _protection?.JumpTo(next);
        }
    }

    internal long NextPacketNumber => _recovery.NextPacketNumber;

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
            long number = _recovery.TakePacketNumber();
            SealPacket(packet, PacketType.Data, frames.Length, number);
            _recovery.OnSettledSent(number);
            return packet;
        }
    }

    /// <summary>
    /// Bytes of arrays and buffers this peer object holds now (its packet log, pending index,
    /// receive state, reassembly and reorder buffers, event queue, spare message objects): what an
    /// ended session still costs while something (a <see cref="PeerChange"/>, the application) refers to it.
    /// </summary>
    internal long RetainedBytes
    {
        get
        {
            lock (_host.Gate)
            {
                long bytes = _recovery.Log.CapacityBytes + ((long)_pending.SlotCount * IntPtr.Size) + _inbound.Reliable.RentedBytes + _inbound.Unreliable.RentedBytes;
                bytes += _receiveCredit.WaitingBytes + _receiveCredit.WaitingExtraBytes + _events.CapacityBytes;
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
                return _inbound.Reliable.Incomplete;
            }
        }
    }

    internal bool IsActiveAt(long now) => State == PeerState.Connected && now - _lastReceivedAt < (long)_options.StartHeartbeatTimeout.TotalMicroseconds;

    /// <summary>Runs whatever is due at <paramref name="now"/>.</summary>
    internal void OnTimer(long now)
    {
        if (State != PeerState.Connected)
        {
            return;
        }

        if (now - _lastReceivedAt >= (long)_options.HeartbeatTimeout.TotalMicroseconds)
        {
            _host.EndSession(this, CloseReason.IdleTimeout);
            return;
        }

        if (now - _lastReceivedAt >= (long)_options.StartHeartbeatTimeout.TotalMicroseconds && now - _lastHeartbeatAt >= (long)_options.HeartbeatDelay.TotalMicroseconds)
        {
            _heartbeatDue = true;
        }

        if (_recovery.OnTimer(now))
        {
            _heartbeatDue = true; // nothing left to resend: an ack-eliciting heartbeat asks for the acknowledgement
        }

        if (_sendCredit.OnTimer(now, _recovery.LoggedPackets == 0, _recovery.RtoMicros))
        {
            _heartbeatDue = true; // the window update may have been lost: an eliciting packet brings a fresh one
        }

        _acks.OnTimer(now, NackDelayMicros);
        _inbound.ExpireStale(now); // on the clock: a peer that stops sending does not keep its stale fragments
        _events.TrimOnTimer(now); // and one whose events went quiet does not keep what a burst grew
        CheckMessageTimeouts(now);
    }

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
        long nackDelay = NackDelayMicros;
        deadline = Math.Min(deadline, _acks.NextDeadline(nackDelay));
        deadline = Math.Min(deadline, _recovery.NextDeadline());
        if (_closing)
        {
            deadline = Math.Min(deadline, _closeAt);
        }

        if (_pacer.NextAt > 0 && HasDataToSend() && _congestion.CanSend(_packetSize))
        {
            deadline = Math.Min(deadline, _pacer.NextAt);
        }

        deadline = Math.Min(deadline, _sendCredit.NextDeadline(_recovery.LoggedPackets == 0, _recovery.RtoMicros));
        deadline = Math.Min(deadline, _mtu.NextAt);
        deadline = Math.Min(deadline, _pathChallengeAt);
        deadline = Math.Min(deadline, _inbound.NextExpiry);
        deadline = Math.Min(deadline, MessageDeadline());
        return deadline;
    }

    /// <summary>The timers, for diagnosing a peer that wants attention it does not take (tests).</summary>
    internal string DescribeTimers()
    {
        lock (_host.Gate)
        {
            return $"{this}: now {_host.NowMicros} next {NextDeadline()} {_acks.Describe()} {_recovery.Describe()} pace {_pacer.NextAt} {_sendCredit.Describe()} probe {_mtu.NextAt} msg {MessageDeadline()} hb {_lastReceivedAt}/{_lastHeartbeatAt} queue {_sendQueue.Count} cwnd {_congestion.Window}/{_congestion.BytesInFlight} events {_events.Count}";
        }
    }

    /// <summary>A graceful disconnect whose messages are all final, or whose time is up, ends here: true when it did.</summary>
    private bool TryFinishClosing(long now)
    {
        if (!_closing || (_pendingCount > 0 && now < _closeAt))
        {
            return false;
        }

        SendClose(CloseReason.RemoteClose);
        _host.EndSession(this, CloseReason.LocalClose);
        return true;
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
        Retransmissions = _recovery.Retransmissions,
        MessagesRetransmitted = _recovery.MessagesRetransmitted,
        MaxRetransmissionsPerMessage = _recovery.MaxRetransmits,
        PacketsLost = _recovery.PacketsLost,
        Timeouts = _recovery.Timeouts,
        DuplicatePackets = _duplicatePackets,
        DuplicateMessages = _inbound.DuplicateMessages,
        PacketsDropped = _packetsDropped,
        UnreliableMessagesDropped = _unreliableDropped,
        SmoothedRtt = _rtt.SmoothedRtt,
        RttVariation = _rtt.RttVariation,
        Rto = _rtt.Rto,
        CongestionWindow = _congestion.Window,
        BytesInFlight = _congestion.BytesInFlight,
        SendCredit = _sendCredit.Left,
        QueuedMessages = _sendQueue.Count,
        PendingMessages = _pendingCount,
        PendingBytes = _pendingBytes,
        BufferedReceiveBytes = _inbound.ReliableHeldBytes + _inbound.Unreliable.RentedBytes,
        QueuedEvents = _events.Count,
        PacketSize = _packetSize,
    };
}
