namespace Parley.Udp;

// Packet building: what is due goes out in as few packets as the windows allow — acknowledgements,
// window updates, heartbeats, Nacks, path responses, delivered confirmations, retransmissions,
// then new messages — each built in place in a pooled buffer and handed to the host's outbox.
public sealed partial class UdpPeer
{
    private long _packetsSent;
    private long _bytesSent;

    /// <summary>Writes and sends every packet that is due now: acknowledgements, confirmations, retransmissions and new data as far as the windows allow.</summary>
    internal void Flush(long now)
    {
        if (State != PeerState.Connected || TryFinishClosing(now))
        {
            return;
        }

        _pacer.ClearWait(); // set again below only if pacing is what holds data back
        for (int guard = 0; guard < 4096; guard++)
        {
            bool control = _acks.AckDue(now) || _echoPending != 0 || _heartbeatDue || _acks.NackDue || _delivered.ResendDue || _receiveCredit.WindowUpdateDue || _pathResponseDue;
            bool data = HasDataToSend() && ((_congestion.CanSend(_packetSize) && _pacer.Allows(now, _congestion.Window, _rtt, _packetSize)) || _recovery.ProbeTimeoutSend);
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

    private bool HasDataToSend() => _recovery.HasRetransmissions || (_sendQueue.Count > 0 && !_sendCredit.Blocked);

    private bool WritePacket(long now, bool includeData)
    {
        // Built straight into the pooled buffer that the send loop sends and returns: no copy.
        byte[] buffer = _host.Buffers.Rent(_packetSize);
        Span<byte> packet = buffer.AsSpan(0, _packetSize);
        var writer = new FrameWriter(packet.Slice(PacketCodec.HeaderSize, _packetSize - PacketCodec.SessionOverhead));
        long itemStart = _recovery.Log.ItemTail;
        bool elicits = false;

        if (_acks.AckPending || _receiveCredit.WindowUpdateDue)
        {
            _acks.WriteAck(ref writer, now);
            _receiveCredit.WriteWindow(ref writer);
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

        _acks.WriteNack(ref writer);
        if (_pathResponseDue && writer.TryWritePathFrame(FrameType.PathResponse, _pathResponseToken))
        {
            _pathResponseDue = false;
        }

        elicits |= _delivered.Write(ref writer, _recovery.Log);
        if (includeData)
        {
            elicits |= _recovery.WriteRetransmissions(ref writer);
            elicits |= WriteNewMessages(ref writer, now);
        }

        if (writer.Written == 0)
        {
            _host.Buffers.Return(buffer);
            return false;
        }

        long number = _recovery.TakePacketNumber();
        int size = SealPacket(packet, PacketType.Data, writer.Written, number);
        _recovery.OnSent(number, now, size, itemStart, elicits);
        if (elicits)
        {
            _pacer.OnSent(size);
        }

        Emit(buffer, size);
        return true;
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
            if (!_sendCredit.Allows(credit, now))
            {
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
                _sendCredit.Take(credit);
                _recovery.Log.AddItem(new SentItem { Message = message, Version = message.Version, Fragment = message.NextFragment });
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
                    RaiseState(message.Id, MessageState.Sent);
                }
            }
            else
            {
                Finish(message, MessageState.Sent);
            }
        }

        return wrote;
    }

    /// <summary>Sends the next path-MTU probe when one is due: a padded packet of the size being tried.</summary>
    private void TryStartProbe(long now)
    {
        if (State != PeerState.Connected || !_mtu.TryStart(now, _packetSize, out int probeSize))
        {
            return;
        }

        byte[] buffer = _host.Buffers.Rent(probeSize);
        Span<byte> packet = buffer.AsSpan(0, probeSize);
        int padding = probeSize - PacketCodec.SessionOverhead;
        packet.Slice(PacketCodec.HeaderSize, padding).Clear();
        long number = _recovery.TakePacketNumber();
        int size = SealPacket(packet, PacketType.Probe, padding, number);
        _recovery.OnProbeSent(number, now, size);
        Emit(buffer, size);
    }

    // Hands a pooled buffer holding a datagram to the host's outbox (which returns it after sending).
    private void Emit(byte[] buffer, int length)
    {
        _packetsSent++;
        _bytesSent += length;
        _host.EmitOwned(Address, buffer, length);
    }
}
