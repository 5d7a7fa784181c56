namespace Parley.Udp;

// Receiving: a session packet's frames go to the component that owns each (acknowledgements,
// loss recovery, flow control, inbound messages, confirmations, path validation); whole messages
// and what the components report come back here, and leave as events for the application.
public sealed partial class UdpPeer : IRecoverySink, IInboundSink
{
    private long _echoPending;
    private bool _heartbeatDue;
    private long _lastHeartbeatAt;
    private long _lastReceivedAt;
    private long _packetsReceived, _bytesReceived, _messagesReceived, _payloadReceived, _duplicatePackets, _packetsDropped, _unreliableDropped;

    /// <summary>Sent packets looked up for the peer's Nack frames so far (tests prove the work per packet is bounded).</summary>
    internal long NackLookups => _recovery.NackLookups;

    /// <summary>
    /// Reliable bytes held for reordering and reassembly (reassemblies at their declared size,
    /// waiting messages at their pooled size plus overhead): never more than the receive window
    /// (tests check it). Messages queued for the application's handler are not included: they
    /// are charged against the window as unconsumed bytes, and what they hold beyond their data
    /// against a budget of one more window (<see cref="ReceiveCredit"/>).
    /// </summary>
    internal long ReliableBufferedBytes
    {
        get
        {
            lock (_host.Gate)
            {
                return _inbound.ReliableHeldBytes;
            }
        }
    }

    /// <summary>The events about this peer not yet taken for raising (tests).</summary>
    internal int QueuedEvents
    {
        get
        {
            lock (_host.Gate)
            {
                return _events.Count;
            }
        }
    }

    /// <summary>
    /// A Data or Probe packet of this session arrived and authenticated: <paramref name="frames"/>
    /// is its decrypted payload, <paramref name="number"/> its full packet number.
    /// </summary>
    internal void OnPacket(in PacketHeader header, long number, ReadOnlySpan<byte> frames, int datagramLength, System.Net.SocketAddress from, long now)
    {
        bool refusedBefore = _acks.WasRefused(number);
        if (refusedBefore || _acks.Contains(number))
        {
            OnCopyFromPathUnderDoubt(number, from);
            if (!Address.Equals(from))
            {
                _host.CountDrop(DropReason.Replayed); // a copy of a packet we had, from somewhere else: not ours to answer
                return;
            }

            _duplicatePackets++;
            if (!refusedBefore)
            {
                _acks.AckNow(); // our acknowledgement was probably lost
                _host.MarkDirty(this);
            }

            return;
        }

        AcceptPacket = null; // the initiator got our Accept: it seals with the keys it confirmed
        _lastReceivedAt = now;
        _packetsReceived++;
        _bytesReceived += datagramLength;
        bool elicits = header.Type == PacketType.Probe;
        bool accepted = true;
        bool closed = false;
        int nackWork = Math.Max(_recovery.LoggedPackets, 64); // Nack frames of one packet look at no more packets than are in flight
        var reader = new FrameReader(frames);
        while (reader.TryReadNext() && State == PeerState.Connected)
        {
            switch (reader.Type)
            {
                case FrameType.Message:
                    elicits = true;
                    MessageFrame frame = reader.Message;
                    accepted &= _inbound.Take(in frame, now);
                    break;
                case FrameType.Ack:
                    _recovery.OnAck(ref reader, now);
                    _host.MarkDirty(this); // the window may have opened
                    break;
                case FrameType.Delivered:
                    elicits = true;
                    OnDelivered(ref reader, now);
                    break;
                case FrameType.Heartbeat:
                    if (reader.Echo == 0)
                    {
                        _echoPending = Math.Max(1, reader.Timestamp);
                        elicits = true;
                        _acks.AckNow();
                    }
                    else if (now - reader.Echo is >= 0 and <= 60_000_000)
                    {
                        // Only a plausible echo of our own clock is a sample (a buggy peer's could overflow the estimator).
                        _rtt.AddSample(TimeSpan.FromMicroseconds(now - reader.Echo));
                    }

                    break;
                case FrameType.Window:
                    _sendCredit.OnWindow(reader.Value);
                    break;
                case FrameType.Nack:
                    _recovery.OnNack(reader.Value, reader.Count, ref nackWork);
                    _host.MarkDirty(this);
                    break;
                case FrameType.PathChallenge:
                    _pathResponseToken = reader.Token; // answered from wherever we send from now: the peer checks the address
                    _pathResponseDue = true;
                    break;
                case FrameType.PathResponse:
                    OnPathResponse(reader.Token, from);
                    break;
                case FrameType.Close:
                    closed = true;
                    break;
            }

            if (closed)
            {
                break;
            }
        }

        if (closed && !reader.Malformed)
        {
            _host.EndSession(this, CloseReason.RemoteClose);
            return;
        }

        if (reader.Malformed)
        {
            // One pass, no validation pass first: what came before the bad frame was taken (it is
            // idempotent: messages are deduplicated by sequence, acks by packet number), and the
            // packet is not acknowledged, so the peer's data in it comes again.
            _packetsDropped++;
            _host.CountDrop(DropReason.MalformedFrames);
            return;
        }

        if (!accepted || State != PeerState.Connected)
        {
            // Not recorded, so not acknowledged: the sender retransmits (in a new packet), and what
            // was taken from this packet is deduplicated. Its number is remembered, so a copy of it
            // (replayed from anywhere) is not processed again.
            _packetsDropped++;
            _acks.RememberRefused(number);
            return;
        }

        if (_acks.OnAccepted(number, elicits, now))
        {
            OnNewestPacket(number, from, now); // from a new address: validate it before moving there; from ours: stay
        }

        _host.MarkDirty(this);
    }

    /// <summary>
    /// A whole message for the application: queued as an event (its bytes copied into the queue's
    /// data block, or its own pooled buffer handed over, held until the handler returned). A reliable one is charged against the receive
    /// credit until then; an unreliable one against the queue's own budget (one receive window),
    /// past which it is dropped and counted — an unreliable message may be lost anyway, and a
    /// handler that stopped must not make the host hold what keeps coming.
    /// </summary>
    void IInboundSink.Deliver(ReadOnlySpan<byte> data, byte[]? owned, byte channel, DeliveryMode mode, uint id)
    {
        int extra = ReceiveCredit.ExtraFor(data.Length);
        if (mode == DeliveryMode.Unreliable)
        {
            extra += data.Length; // the whole of it counts against the queue's budget
            if (_events.UnreliableBytes + extra > _options.ReceiveWindowBytes)
            {
                _unreliableDropped++;
                if (owned is not null)
                {
                    _host.Buffers.Return(owned);
                }

                return;
            }

            _events.UnreliableBytes += extra;
        }
        else
        {
            _receiveCredit.OnQueued(extra);
        }

        _messagesReceived++;
        _payloadReceived += data.Length;
        _events.AddMessage(data, owned, channel, mode, id, extra);
    }

    /// <summary>
    /// A batch of this peer's events was raised (the handlers returned). Caller holds the lock.
    /// Each reliable message is consumed — its credit returns and its delivered
    /// confirmation is queued. True when that gave the session something to send.
    /// </summary>
    internal bool OnEventsRaised(ReadOnlySpan<PeerEvent> raised)
    {
        bool confirmed = false;
        foreach (ref readonly PeerEvent item in raised)
        {
            if (item.Kind != PeerEventKind.Message)
            {
                continue;
            }

            if (item.Mode == DeliveryMode.Unreliable)
            {
                _events.UnreliableBytes -= item.Extra;
                continue;
            }

            _receiveCredit.OnConsumed(item.Length, item.Extra);
            if (State == PeerState.Connected)
            {
                _delivered.Confirm(item.Id);
                confirmed = true;
            }
        }

        if (confirmed)
        {
            // The handler returning is what makes a message delivered: the confirmation rides with
            // the acknowledgement still owed, or one becomes due (the ack may have gone already).
            _acks.OnConfirmationPending(_host.NowMicros);
            _host.MarkDirty(this); // the host's next poll flushes it and sets its timer
        }

        return confirmed;
    }

    void IRecoverySink.OnMessageReceived(OutgoingMessage message, long now) => SetReceived(message, now);

    void IRecoverySink.OnDeliveredLost(DeliveredRun run) => _delivered.OnLost(run);

    void IRecoverySink.OnProbeAcked(int size)
    {
        _packetSize = Math.Max(_packetSize, size);
        _congestion.OnPacketSizeChanged(_packetSize);
        _mtu.OnAcked(_host.NowMicros);
        _host.MarkDirty(this);
    }

    void IRecoverySink.OnProbeLost(int size)
    {
        _mtu.OnLost(size, _host.NowMicros);
        _host.MarkDirty(this);
    }

    private long NackDelayMicros => (long)Math.Max(_options.MaxAckDelay.TotalMicroseconds * 2, _rtt.HasSample ? _rtt.SmoothedRtt.TotalMicroseconds / 4 : 0);
}
