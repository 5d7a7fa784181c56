using System.Runtime.CompilerServices;

namespace Parley.Udp;

/// <summary>
/// The sending side's packets of one session, from number to fate (RFC 9002 in spirit): numbers
/// them, logs what each carried (<see cref="SentPacketLog"/>), settles them from Ack frames
/// (sampling the round trip, feeding the <see cref="CongestionController"/>), declares loss by
/// acknowledgement evidence (three packets or 9/8 of a round trip behind the largest
/// acknowledged) or on the peer's Nack, runs the probe timeout (RTO plus the peer's ack delay,
/// backed off), and queues lost fragments for retransmission. What the settled items mean —
/// a message received, a confirmation to send again, a probe's size — goes to the
/// <see cref="IRecoverySink"/>. Not thread-safe (the host's lock). About 400 lines, most of them
/// comments: acknowledgement, loss, timeout and retransmission all walk the same log and read best
/// side by side.
/// </summary>
internal sealed class LossRecovery
{
    private const int PacketThreshold = 3; // RFC 9002's kPacketThreshold

    private readonly SentPacketLog _log = new();
    private readonly Queue<FragmentRef> _retransmitQueue = new();
    private readonly CongestionController _congestion;
    private readonly IRecoverySink _sink;
    private readonly TimeSpan _maxAckDelay;
    private long _nextPacketNumber = 1; // 64-bit inside; the low 32 bits on the wire
    private long _largestAcked;
    private bool _anyAcked;
    private long _lossTime = long.MaxValue;
    private long _lastProbeTimeoutAt;

    public LossRecovery(RttEstimator rtt, CongestionController congestion, TimeSpan maxAckDelay, IRecoverySink sink)
    {
        Rtt = rtt;
        _congestion = congestion;
        _maxAckDelay = maxAckDelay;
        _sink = sink;
    }

    public RttEstimator Rtt { get; }

    /// <summary>The number the next packet gets.</summary>
    public long NextPacketNumber => _nextPacketNumber;

    /// <summary>Packets in the log: outstanding ones and settled ones behind the oldest outstanding.</summary>
    public int LoggedPackets => _log.Count;

    /// <summary>The log (writers add the items a packet carries before the packet is logged).</summary>
    public SentPacketLog Log => _log;

    /// <summary>A probe timeout fired: one packet may go past the congestion and pacing windows.</summary>
    public bool ProbeTimeoutSend { get; private set; }

    public bool HasRetransmissions => _retransmitQueue.Count > 0;

    public int RetransmitQueueLength => _retransmitQueue.Count;

    public long PacketsLost { get; private set; }

    public long Timeouts { get; private set; }

    public long Retransmissions { get; private set; }

    public long MessagesRetransmitted { get; private set; }

    public int MaxRetransmits { get; private set; }

    /// <summary>Sent packets looked up for the peer's Nack frames so far (tests prove the work per packet is bounded).</summary>
    public long NackLookups { get; private set; }

    /// <summary>The latest round trip is well above the path's minimum: a queue is forming somewhere.</summary>
    public bool QueueBuilding => !Rtt.HasSample || Rtt.LatestRtt > (Rtt.MinRtt * 5 / 4) + TimeSpan.FromMilliseconds(1);

    /// <summary>
    /// The retransmission timeout plus the peer's allowed ack delay (RFC 9002's PTO does the same):
    /// without it, a steady path with little variance times out on every delayed acknowledgement.
    /// </summary>
    public long RtoMicros => (long)(Rtt.Rto + _maxAckDelay).TotalMicroseconds;

    /// <summary>Takes the next packet number.</summary>
    public long TakePacketNumber() => _nextPacketNumber++;

    /// <summary>
    /// Logs a sent packet whose items were added since <paramref name="itemStart"/>: an eliciting
    /// one waits for its acknowledgement and counts in flight; any other keeps its number's place.
    /// </summary>
    public void OnSent(long number, long now, int size, long itemStart, bool elicits)
    {
        if (elicits)
        {
            _log.Add(number, now, size, itemStart, isProbe: false);
            _congestion.OnSent(size, number);
        }
        else
        {
            _log.AddSettled(number); // acknowledgements are not acknowledged, but the number keeps its place
        }

        ProbeTimeoutSend = false; // one packet past the windows per probe timeout
    }

    /// <summary>Logs a path-MTU probe (its fate says nothing about congestion).</summary>
    public void OnProbeSent(long number, long now, int size) => _log.Add(number, now, size, _log.ItemTail, isProbe: true);

    /// <summary>Logs a packet that needs no acknowledgement (a Close, a path challenge).</summary>
    public void OnSettledSent(long number) => _log.AddSettled(number);

    /// <summary>Handles an Ack frame: settles packets, samples RTT, grows the window, detects losses.</summary>
    public void OnAck(ref FrameReader reader, long now)
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
            Rtt.AddSample(TimeSpan.FromMicroseconds(Math.Max(0, now - largestNewlySentAt - (reader.AckDelay * 100L))));
        }

        DetectLosses(now);
        _log.TrimSettled();
    }

    /// <summary>
    /// The peer asks again for packets it misses: those still outstanding are lost now. Only the
    /// part of the range still in the sent log is looked at, and at most <paramref name="work"/>
    /// packets over all the Nack frames of one packet (a packet of 167 Nacks of 65 535 packets
    /// each cost 15 ms under the host's lock when every number was looked up).
    /// </summary>
    public void OnNack(uint first, ushort count, ref int work)
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
            if (!Unsafe.IsNullRef(ref packet) && packet.Outcome == 0)
            {
                DeclareLost(ref packet);
            }
        }

        _log.TrimSettled();
    }

    /// <summary>
    /// Runs the probe timeout and the loss timer when due. True when the probe timeout found
    /// nothing to resend: an ack-eliciting heartbeat should ask for the acknowledgement.
    /// </summary>
    public bool OnTimer(long now)
    {
        bool wantsHeartbeat = false;
        if (_log.Count > 0 && now - OldestOutstandingSentAt() >= RtoMicros)
        {
            wantsHeartbeat = OnRetransmissionTimeout();
            _lastProbeTimeoutAt = now;
        }

        if (_lossTime <= now)
        {
            DetectLosses(now);
            _log.TrimSettled();
        }

        return wantsHeartbeat;
    }

    /// <summary>When the recovery next needs the timer: the probe timeout of the oldest packet, the loss timer.</summary>
    public long NextDeadline() => Math.Min(_log.Count > 0 ? OldestOutstandingSentAt() + RtoMicros : long.MaxValue, _lossTime);

    /// <summary>Writes queued retransmissions (stale ones skipped) as far as they fit; true when any was written.</summary>
    public bool WriteRetransmissions(ref FrameWriter writer)
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
            Retransmissions++;
            if (message.Retransmits++ == 0)
            {
                MessagesRetransmitted++;
            }

            MaxRetransmits = Math.Max(MaxRetransmits, message.Retransmits);
            wrote = true;
        }

        return wrote;
    }

    /// <summary>Forgets every packet and retransmission (the session's messages all failed).</summary>
    public void Clear()
    {
        _retransmitQueue.Clear();
        _log.Clear();
    }

    /// <summary>Clears and lets the memory go (the session ended).</summary>
    public void Release()
    {
        _log.Release();
        _retransmitQueue.TrimExcess();
    }

    /// <summary>Tests: packet numbers from here on start at <paramref name="next"/>. Only when nothing is in flight.</summary>
    public void JumpTo(long next)
    {
        if (_log.Count != 0)
        {
            throw new InvalidOperationException("packets are in flight");
        }

        _nextPacketNumber = next;
    }

    public string Describe() => $"log {_log.Count}/{(_log.Count > 0 ? _log.At(0).SentAt : 0)} rto {Rtt.Rto} loss {_lossTime} rtx {_retransmitQueue.Count}";

    // The timeout runs from the later of the oldest outstanding packet and the last probe timeout (the backoff then spaces probes).
    private long OldestOutstandingSentAt() => Math.Max(_log.At(0).SentAt, _lastProbeTimeoutAt);

    private void OnPacketAcked(ref SentPacket packet, long now)
    {
        if (packet.IsProbe)
        {
            _sink.OnProbeAcked(packet.Size);
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
                _sink.OnMessageReceived(message, now);
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

        long lossDelay = (long)Math.Max(1000, Math.Max(Rtt.SmoothedRtt.TotalMicroseconds, Rtt.LatestRtt.TotalMicroseconds) * 9 / 8);
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
            _sink.OnProbeLost(packet.Size); // a probe too large for the path says nothing about congestion
            return;
        }

        PacketsLost++;
        _congestion.OnLost(packet.Number, packet.Size, _nextPacketNumber - 1, QueueBuilding);
        Requeue(ref packet);
    }

    // The packet's items go out again: live fragments to the retransmission queue, confirmations
    // at once. True when anything was requeued.
    private bool Requeue(ref SentPacket packet)
    {
        bool requeued = false;
        for (long i = packet.ItemStart; i < packet.ItemStart + packet.ItemCount; i++)
        {
            ref SentItem item = ref _log.Item(i);
            if (item.Message is null)
            {
                _sink.OnDeliveredLost(item.Delivered); // the confirmation is sent again, at once
                requeued = true;
                continue;
            }

            var fragment = new FragmentRef(item.Message, item.Version, item.Fragment);
            if (fragment.IsLive)
            {
                _retransmitQueue.Enqueue(fragment);
                requeued = true;
            }
        }

        return requeued;
    }

    /// <summary>
    /// The probe timeout fired (RFC 9002 §6.2): nothing was acknowledged for a timeout. The data
    /// of the oldest outstanding packet goes out again in a probe that may exceed the congestion
    /// window, and the timeout doubles. Nothing is declared lost here — a late acknowledgement
    /// (a jittery path, a busy host) costs one duplicate, not a collapsed window; loss is declared
    /// by acknowledgement evidence once the probe is acknowledged. True when nothing was left to resend.
    /// </summary>
    private bool OnRetransmissionTimeout()
    {
        Timeouts++;
        Rtt.Backoff();
        bool resent = false;
        for (int i = 0; i < _log.Count && !resent; i++)
        {
            ref SentPacket packet = ref _log.At(i);
            if (packet.Outcome != 0 || packet.IsProbe)
            {
                continue;
            }

            resent = Requeue(ref packet);
        }

        ProbeTimeoutSend = true;
        return !resent;
    }
}
