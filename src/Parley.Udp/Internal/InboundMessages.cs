namespace Parley.Udp;

/// <summary>Where <see cref="InboundMessages"/> hands whole messages, in order per channel.</summary>
internal interface IInboundSink
{
    /// <summary>
    /// A whole message. <paramref name="owned"/>: a pooled buffer holding it, which passes to the
    /// sink (it returns it to the store); null: <paramref name="data"/> is valid only during the call.
    /// </summary>
    void Deliver(ReadOnlySpan<byte> data, byte[]? owned, byte channel, DeliveryMode mode, uint id);
}

/// <summary>
/// Message frames of one session into whole messages in their order: unreliable ones as they
/// complete (their fragments in a reassembler that evicts and expires), reliable ones once
/// each, deduplicated by channel sequence, fragments reassembled, ordered ones held until the
/// earlier ones came. Admission is flow control's (<see cref="ReceiveCredit"/>): a frame past
/// the credit, past the sequence window given to the peer, or with no reassembly room is
/// refused, and its packet is then not acknowledged (the sender sends it again). Not thread-safe
/// (the host's lock).
/// </summary>
internal sealed class InboundMessages
{
    private readonly ReceiveChannel[] _channels;
    private readonly ReceiveCredit _credit;
    private readonly BufferStore _buffers;
    private readonly IInboundSink _sink;
    private readonly int _channelCount;
    private readonly int _maxEnqueued;

    public InboundMessages(UdpHostOptions options, ReceiveCredit credit, ReassemblyBudget.Share share, BufferStore buffers, IInboundSink sink)
    {
        _credit = credit;
        _buffers = buffers;
        _sink = sink;
        _channelCount = options.Channels;
        _maxEnqueued = options.MaxEnqueuedMessages;
        Reliable = new Reassembler(options.MaxMessageSize, options.MaxReassembliesPerPeer, maxReservedBytes: long.MaxValue, expiryMicros: long.MaxValue, evictWhenFull: false, share, buffers);
        Unreliable = new Reassembler(options.MaxMessageSize, options.MaxIncompleteUnreliable, maxReservedBytes: options.ReceiveWindowBytes, (long)options.UnreliableFragmentExpiry.TotalMicroseconds, evictWhenFull: true, share, buffers);
        _channels = new ReceiveChannel[options.Channels * 2];
        for (int i = 0; i < _channels.Length; i++)
        {
            _channels[i] = new ReceiveChannel();
        }
    }

    public Reassembler Reliable { get; }

    public Reassembler Unreliable { get; }

    /// <summary>Reliable messages that arrived again (a retransmission of something already had).</summary>
    public long DuplicateMessages { get; private set; }

    /// <summary>Reliable bytes held for reordering and reassembly: waiting messages at their pooled size plus overhead, reassemblies at their declared size.</summary>
    public long ReliableHeldBytes => _credit.WaitingBytes + _credit.WaitingExtraBytes + Reliable.ReservedBytes;

    private sealed class ReceiveChannel
    {
        /// <summary>Ordered: the next sequence to deliver. Unordered: every sequence below it was delivered.</summary>
        public uint Next;

        /// <summary>Ordered: complete messages waiting for an earlier one (pooled buffers).</summary>
        public readonly Dictionary<uint, (byte[] Buffer, int Length, uint Id)> Waiting = [];

        /// <summary>Unordered: sequences delivered above <see cref="Next"/>.</summary>
        public readonly HashSet<uint> DeliveredAhead = [];
    }

    /// <summary>Takes one message frame; false when it cannot be taken now (the packet is then not acknowledged).</summary>
    public bool Take(in MessageFrame frame, long now)
    {
        if (frame.Channel >= _channelCount)
        {
            return false;
        }

        if (frame.Mode == DeliveryMode.Unreliable)
        {
            if (frame.Fragments == 1)
            {
                _sink.Deliver(frame.Data, null, frame.Channel, frame.Mode, frame.MessageId);
            }
            else if (Unreliable.Add(frame.MessageId, frame.Fragment, frame.Fragments, frame.TotalLength, frame.Data, now, out byte[]? whole, out int length) == AssemblyResult.Complete)
            {
                _sink.Deliver(whole.AsSpan(0, length), whole, frame.Channel, frame.Mode, frame.MessageId);
            }

            return true;
        }

        ReceiveChannel channel = _channels[ChannelIndex(frame.Channel, frame.Mode)];
        uint ahead = frame.Sequence - channel.Next;
        if ((int)ahead < 0 || (frame.Mode == DeliveryMode.ReliableOrdered ? channel.Waiting.ContainsKey(frame.Sequence) : channel.DeliveredAhead.Contains(frame.Sequence)))
        {
            DuplicateMessages++;
            return true; // had it already
        }

        if (ahead >= (uint)_maxEnqueued)
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
            if (Reliable.Has(frame.MessageId, frame.Fragment))
            {
                DuplicateMessages++;
                return true;
            }

            charge = Reliable.Contains(frame.MessageId) ? 0 : frame.TotalLength;
        }

        // A small message that must wait for an earlier one holds more than its bytes (a pooled
        // buffer and a table entry): that is charged too, so the waiting messages of all channels
        // together stay within the window (about 26 000 empty ones at the default 4 MiB).
        bool waits = frame.Fragments == 1 && frame.Mode == DeliveryMode.ReliableOrdered && ahead != 0;
        if (!_credit.Admits(charge, waits, frame.Data.Length))
        {
            return false; // past the credit we gave
        }

        byte[]? buffer = null;
        int messageLength = frame.Data.Length;
        if (frame.Fragments > 1)
        {
            AssemblyResult result = Reliable.Add(frame.MessageId, frame.Fragment, frame.Fragments, frame.TotalLength, frame.Data, now, out buffer, out messageLength);
            if (result is AssemblyResult.Refused or AssemblyResult.NoRoom)
            {
                return false; // not acknowledged: sent again, and by then there may be room
            }

            _credit.OnArrived(charge);
            if (result != AssemblyResult.Complete)
            {
                return true;
            }
        }
        else
        {
            _credit.OnArrived(charge);
        }

        if (frame.Mode == DeliveryMode.ReliableOrdered && ahead != 0)
        {
            if (buffer is null)
            {
                buffer = _buffers.Rent(Math.Max(1, messageLength));
                frame.Data.CopyTo(buffer);
            }

            channel.Waiting[frame.Sequence] = (buffer, messageLength, frame.MessageId);
            _credit.OnWaiting(messageLength, buffer.Length);
            return true;
        }

        ReadOnlySpan<byte> data = buffer is null ? frame.Data : buffer.AsSpan(0, messageLength);
        _sink.Deliver(data, buffer, frame.Channel, frame.Mode, frame.MessageId);
        if (frame.Mode == DeliveryMode.ReliableOrdered)
        {
            channel.Next++;
            while (channel.Waiting.Remove(channel.Next, out var waiting))
            {
                _credit.OnWaitingDone(waiting.Length, waiting.Buffer.Length);
                _sink.Deliver(waiting.Buffer.AsSpan(0, waiting.Length), waiting.Buffer, frame.Channel, frame.Mode, waiting.Id);
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

    /// <summary>Drops unreliable fragments past their expiry (the session's timer, at <see cref="NextExpiry"/>).</summary>
    public void ExpireStale(long now) => Unreliable.ExpireStale(now);

    public long NextExpiry => Unreliable.NextExpiry;

    /// <summary>Gives every held buffer back (the session ended).</summary>
    public void Release()
    {
        foreach (ReceiveChannel channel in _channels)
        {
            foreach ((byte[] buffer, _, _) in channel.Waiting.Values)
            {
                _buffers.Return(buffer);
            }

            channel.Waiting.Clear();
            channel.DeliveredAhead.Clear();
        }

        _credit.ClearWaiting();
        Reliable.Clear();
        Unreliable.Clear();
    }

    private static int ChannelIndex(byte channel, DeliveryMode mode) => (channel * 2) + (mode == DeliveryMode.ReliableOrdered ? 1 : 0);
}
