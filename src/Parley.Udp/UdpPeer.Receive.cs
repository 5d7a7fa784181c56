namespace Parley.Udp;

public sealed partial class UdpPeer
{
    private readonly ReceivedPackets _received = new();
    private readonly ReceiveChannel[] _receiveChannels;
    private readonly Reassembler _reliableAssembly;
    private readonly Reassembler _unreliableAssembly;
    private readonly ReassemblyBudget.Share _reassemblyShare;
    private bool _leftReassemblyShare;
    // Delivered confirmations: new ones ride with the acknowledgement of the packet that brought
    // the messages (same delayed-ack policy, so a stream gets one confirmation packet per ack, not
    // one per packet); ones whose packet was lost go again at once.
    private readonly Queue<DeliveredRun> _deliveredToSend = new();
    private DeliveredRun _deliveredOpen; // the run the next consumed id may extend (Count 0: none)
    private bool _deliveredResendDue;

    private bool _ackPending;
    private bool _ackNow;
    private int _ackElicitingSinceAck;
    private long _ackDeadline = long.MaxValue;
    private long _largestReceived;
    private long _largestReceivedAt;

    // Flow control, receiving side: reliable bytes that arrived (first copies) and that the application consumed.
    private uint _arrivedBytes;
    private uint _consumedBytes;
    private uint _advertisedLimit;
    private bool _windowUpdateDue;
    private long _bufferedBytes; // complete out-of-order ordered messages waiting for their turn
    private long _waitingExtraBytes; // what those hold beyond their data: pooled-size rounding and a per-entry overhead
    private int _peerMaxEnqueued = 16;

    private long _echoPending;
    private bool _heartbeatDue;
    private long _lastHeartbeatAt;
    private long _lastReceivedAt;

    // Nack: the lowest missing packet number, since when it has been missing, and whether it was asked for.
    private long _gapFirst;
    private long _gapSince = long.MaxValue;
    private bool _gapNacked;
    private bool _nackDue;
    private long _nackFirst;
    private ushort _nackCount;

    private long _packetsReceived, _bytesReceived, _messagesReceived, _payloadReceived, _duplicatePackets, _duplicateMessages, _packetsDropped;

    private sealed class ReceiveChannel
    {
        /// <summary>Ordered: the next sequence to deliver. Unordered: every sequence below it was delivered.</summary>
        public uint Next;

        /// <summary>Ordered: complete messages waiting for an earlier one (pooled buffers).</summary>
        public readonly Dictionary<uint, (byte[] Buffer, int Length, uint Id)> Waiting = [];

        /// <summary>Unordered: sequences delivered above <see cref="Next"/>.</summary>
        public readonly HashSet<uint> DeliveredAhead = [];
    }

    // What one waiting ordered message costs beyond its buffer: its dictionary entry (about 36
    // bytes, twice that while the table grows) and the buffer's object header.
    private const int WaitingEntryOverhead = 96;

    // Packets that authenticated but whose contents were refused (no room): never recorded, so
    // not acknowledged, but their numbers are remembered so that a copy is not processed again.
    private const int RefusedRemembered = 16;
    private long[]? _refusedNumbers;
    private int _refusedNext;

    /// <summary>Sent packets looked up for the peer's Nack frames so far (tests prove the work per packet is bounded).</summary>
    internal long NackLookups { get; private set; }

    /// <summary>Reliable bytes held for reordering and reassembly (reassemblies at their declared size, waiting messages at their pooled size plus overhead): never more than the receive window (tests check it).</summary>
    internal long ReliableBufferedBytes
    {
        get
        {
            lock (_host.Gate)
            {
                return _bufferedBytes + _waitingExtraBytes + _reliableAssembly.ReservedBytes;
            }
        }
    }

    /// <summary>What an ordered message of <paramref name="length"/> bytes waiting for its turn holds beyond its data.</summary>
    private static int WaitingExtra(int length) => BufferStore.SizeOf(Math.Max(1, length)) - length + WaitingEntryOverhead;

    /// <summary>
    /// A Data or Probe packet of this session arrived and authenticated: <paramref name="frames"/>
    /// is its decrypted payload, <paramref name="number"/> its full packet number.
    /// </summary>
    internal void OnPacket(in PacketHeader header, long number, ReadOnlySpan<byte> frames, int datagramLength, System.Net.SocketAddress from, long now)
    {
        bool refusedBefore = WasRefused(number);
        if (refusedBefore || _received.Contains(number))
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
                _ackNow = true; // our acknowledgement was probably lost
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
        int nackWork = Math.Max(_log.Count, 64); // Nack frames of one packet look at no more packets than are in flight
        var reader = new FrameReader(frames);
        while (reader.TryReadNext() && State == PeerState.Connected)
        {
            switch (reader.Type)
            {
                case FrameType.Message:
                    elicits = true;
                    MessageFrame frame = reader.Message;
                    accepted &= OnMessage(in frame, now);
                    break;
                case FrameType.Ack:
                    OnAck(ref reader, now);
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
                        _ackNow = true;
                    }
                    else if (now - reader.Echo is >= 0 and <= 60_000_000)
                    {
                        // Only a plausible echo of our own clock is a sample (a buggy peer's could overflow the estimator).
                        _rtt.AddSample(TimeSpan.FromMicroseconds(now - reader.Echo));
                    }

                    break;
                case FrameType.Window:
                    if ((int)(reader.Value - _sendLimit) > 0)
                    {
                        _sendLimit = reader.Value;
                        _creditBlocked = false;
                    }

                    break;
                case FrameType.Nack:
                    OnNack(reader.Value, reader.Count, ref nackWork);
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
            _host.EndSession(this, DisconnectReason.Remote);
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
            RememberRefused(number);
            return;
        }

        _received.Record(number);
        bool outOfOrder = number != _largestReceived + 1;
        if (number > _largestReceived)
        {
            _largestReceived = number;
            _largestReceivedAt = now;
        }

        if (elicits)
        {
            _ackPending = true;
            if (++_ackElicitingSinceAck >= _options.AckEveryPackets || outOfOrder)
            {
                _ackNow = true;
            }
            else if (_ackDeadline == long.MaxValue)
            {
                _ackDeadline = now + (long)_options.MaxAckDelay.TotalMicroseconds;
            }
        }

        if (number == _largestReceived)
        {
            OnNewestPacket(number, from, now); // from a new address: validate it before moving there; from ours: stay
        }

        TrackGap(now);
        _host.MarkDirty(this);
    }

    /// <summary>Takes one message frame; false when it cannot be taken now (the packet is then not acknowledged).</summary>
    private bool OnMessage(in MessageFrame frame, long now)
    {
        if (frame.Channel >= _options.Channels)
        {
            return false;
        }

        if (frame.Mode == DeliveryMode.Unreliable)
        {
            if (frame.Fragments == 1)
            {
                Deliver(frame.Data, frame.Channel, frame.Mode, frame.MessageId);
            }
            else if (_unreliableAssembly.Add(frame.MessageId, frame.Fragment, frame.Fragments, frame.TotalLength, frame.Data, now, out byte[]? whole, out int length) == AssemblyResult.Complete)
            {
                Deliver(whole.AsSpan(0, length), frame.Channel, frame.Mode, frame.MessageId);
                _host.Buffers.Return(whole!);
            }

            return true;
        }

        ReceiveChannel channel = _receiveChannels[ChannelIndex(frame.Channel, frame.Mode)];
        uint ahead = frame.Sequence - channel.Next;
        if ((int)ahead < 0 || (frame.Mode == DeliveryMode.ReliableOrdered ? channel.Waiting.ContainsKey(frame.Sequence) : channel.DeliveredAhead.Contains(frame.Sequence)))
        {
            _duplicateMessages++;
            return true; // had it already
        }

        if (ahead >= (uint)_options.MaxEnqueuedMessages)
        {
            return false; // beyond the window we gave the peer
        }

        // Flow control counts what a message will hold, not what has arrived of it: a reassembly
        // charges its declared total when its first fragment comes (the sender took credit for
        // the whole message with its first fragment), so a peer cannot open many large messages
        // with one small fragment each.
        long charge = frame.Data.Length;
        if (frame.Fragments > 1)
        {
            if (_reliableAssembly.Has(frame.MessageId, frame.Fragment))
            {
                _duplicateMessages++;
                return true;
            }

            charge = _reliableAssembly.Contains(frame.MessageId) ? 0 : frame.TotalLength;
        }

        // A small message that must wait for an earlier one holds more than its bytes (a pooled
        // buffer and a table entry): that is charged too, so the waiting messages of all channels
        // together stay within the window (about 26 000 empty ones at the default 4 MiB). Only a
        // message that waits is charged so: the next one in order is always taken.
        long held = (uint)(_arrivedBytes - _consumedBytes) + charge;
        if (frame.Fragments == 1 && frame.Mode == DeliveryMode.ReliableOrdered && ahead != 0)
        {
            held += _waitingExtraBytes + WaitingExtra(frame.Data.Length);
        }

        if (held > (uint)_options.ReceiveWindowBytes)
        {
            return false; // past the credit we gave
        }

        byte[]? buffer = null;
        int messageLength = frame.Data.Length;
        if (frame.Fragments > 1)
        {
            AssemblyResult result = _reliableAssembly.Add(frame.MessageId, frame.Fragment, frame.Fragments, frame.TotalLength, frame.Data, now, out buffer, out messageLength);
            if (result is AssemblyResult.Refused or AssemblyResult.NoRoom)
            {
                return false; // not acknowledged: sent again, and by then there may be room
            }

            _arrivedBytes += (uint)charge;
            if (result != AssemblyResult.Complete)
            {
                return true;
            }
        }
        else
        {
            _arrivedBytes += (uint)charge;
        }

        if (frame.Mode == DeliveryMode.ReliableOrdered && ahead != 0)
        {
            if (buffer is null)
            {
                buffer = _host.Buffers.Rent(Math.Max(1, messageLength));
                frame.Data.CopyTo(buffer);
            }

            channel.Waiting[frame.Sequence] = (buffer, messageLength, frame.MessageId);
            _bufferedBytes += messageLength;
            _waitingExtraBytes += buffer.Length - messageLength + WaitingEntryOverhead;
            return true;
        }

        ReadOnlySpan<byte> data = buffer is null ? frame.Data : buffer.AsSpan(0, messageLength);
        Deliver(data, frame.Channel, frame.Mode, frame.MessageId);
        Consumed(messageLength);
        if (buffer is not null)
        {
            _host.Buffers.Return(buffer);
        }

        if (frame.Mode == DeliveryMode.ReliableOrdered)
        {
            channel.Next++;
            while (State == PeerState.Connected && channel.Waiting.Remove(channel.Next, out var waiting))
            {
                _bufferedBytes -= waiting.Length;
                _waitingExtraBytes -= waiting.Buffer.Length - waiting.Length + WaitingEntryOverhead;
                Deliver(waiting.Buffer.AsSpan(0, waiting.Length), frame.Channel, frame.Mode, waiting.Id);
                Consumed(waiting.Length);
                _host.Buffers.Return(waiting.Buffer);
                channel.Next++;
            }
        }
        else if (ahead == 0)
        {
            channel.Next++;
            while (channel.DeliveredAhead.Remove(channel.Next))
            {
                channel.Next++;
            }
        }
        else
        {
            channel.DeliveredAhead.Add(frame.Sequence);
        }

        return true;
    }

    private void Deliver(ReadOnlySpan<byte> data, byte channel, DeliveryMode mode, uint id)
    {
        _messagesReceived++;
        _payloadReceived += data.Length;
        _host.RaiseMessage(this, new UdpMessage(data, channel, mode, id));
        if (mode != DeliveryMode.Unreliable)
        {
            ConfirmDelivered(id);
        }
    }

    // Consecutive ids (one ordered stream) make one run: one Delivered entry for many messages.
    private void ConfirmDelivered(uint id)
    {
        if (_deliveredOpen.Count > 0 && id == _deliveredOpen.First + (uint)_deliveredOpen.Count && _deliveredOpen.Count < DeliveredRun.MaxCount)
        {
            _deliveredOpen = _deliveredOpen with { Count = _deliveredOpen.Count + 1 };
            return;
        }

        if (_deliveredOpen.Count > 0)
        {
            _deliveredToSend.Enqueue(_deliveredOpen);
        }

        _deliveredOpen = new DeliveredRun(id, 1);
    }

    private void Consumed(int bytes)
    {
        _consumedBytes += (uint)bytes;
        if (_consumedBytes + (uint)_options.ReceiveWindowBytes - _advertisedLimit >= (uint)_options.ReceiveWindowBytes / 4)
        {
            _windowUpdateDue = true;
        }
    }

    /// <summary>
    /// The peer asks again for packets it misses: those still outstanding are lost now. Only the
    /// part of the range still in the sent log is looked at, and at most <paramref name="work"/>
    /// packets over all the Nack frames of one packet (a packet of 167 Nacks of 65 535 packets
    /// each cost 15 ms under the host's lock when every number was looked up).
    /// </summary>
    private void OnNack(uint first, ushort count, ref int work)
    {
        if (_log.Count == 0 || work <= 0)
        {
            return;
        }

        long asked = PacketCodec.ExpandPacketNumber(first, _nextPacketNumber - 1);
        long start = Math.Max(asked, _log.FirstNumber);
        long end = Math.Min(asked + count, _log.FirstNumber + _log.Count);
        end = Math.Min(end, start + work);
        work -= (int)Math.Max(0, end - start);
        NackLookups += Math.Max(0, end - start);
        for (long number = start; number < end; number++)
        {
            ref SentPacket packet = ref _log.Find(number);
            if (!System.Runtime.CompilerServices.Unsafe.IsNullRef(ref packet) && packet.Outcome == 0)
            {
                DeclareLost(ref packet);
            }
        }

        _log.TrimSettled();
    }

    private bool WasRefused(long number) => _refusedNumbers is { } refused && Array.IndexOf(refused, number) >= 0;

    private void RememberRefused(long number)
    {
        _refusedNumbers ??= new long[RefusedRemembered];
        _refusedNumbers[_refusedNext] = number;
        _refusedNext = (_refusedNext + 1) % RefusedRemembered;
    }

    /// <summary>Follows the lowest missing packet number; one that stays missing for the Nack delay is asked for.</summary>
    private void TrackGap(long now)
    {
        if (!_received.TryGetLowestGap(out long gapFirst, out long gapCount))
        {
            _gapSince = long.MaxValue;
            return;
        }

        if (gapFirst != _gapFirst || _gapSince == long.MaxValue)
        {
            _gapFirst = gapFirst;
            _gapSince = now;
            _gapNacked = false;
        }

        _nackCount = (ushort)Math.Min(gapCount, ushort.MaxValue);
    }

    private long NackDelayMicros => (long)Math.Max(_options.MaxAckDelay.TotalMicroseconds * 2, _rtt.HasSample ? _rtt.SmoothedRtt.TotalMicroseconds / 4 : 0);

    private void ReleaseReceiveBuffers()
    {
        foreach (ReceiveChannel channel in _receiveChannels)
        {
            foreach ((byte[] buffer, _, _) in channel.Waiting.Values)
            {
                _host.Buffers.Return(buffer);
            }

            channel.Waiting.Clear();
            channel.DeliveredAhead.Clear();
        }

        _bufferedBytes = 0;
        _waitingExtraBytes = 0;
        _reliableAssembly.Clear();
        _unreliableAssembly.Clear();
        if (!_leftReassemblyShare)
        {
            _leftReassemblyShare = true;
            _host.ReassemblyBudget.Leave(_reassemblyShare);
        }
    }
}
