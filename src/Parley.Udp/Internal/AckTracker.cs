namespace Parley.Udp;

/// <summary>
/// The receiving side's acknowledgements for one session: which packet numbers arrived (for the
/// Ack frame's ranges and duplicate detection), when an acknowledgement is due (at once for an
/// out-of-order packet or every <c>ackEveryPackets</c> eliciting packets, otherwise within
/// <c>maxAckDelay</c>), which authenticated packets were refused (not acknowledged, but not
/// processed twice), and the lowest gap: a packet number missing for the Nack delay is asked for
/// again with a Nack frame. Writes the Ack and Nack frames. Not thread-safe (the host's lock).
/// </summary>
internal sealed class AckTracker
{
    private const int MaxAckRanges = 32;

    // Packets that authenticated but whose contents were refused (no room): never recorded, so
    // not acknowledged, but their numbers are remembered so that a copy is not processed again.
    private const int RefusedRemembered = 16;

    private readonly ReceivedPackets _received = new();
    private readonly int _ackEveryPackets;
    private readonly long _maxAckDelayMicros;
    private long[]? _refusedNumbers;
    private int _refusedNext;

    private bool _ackPending;
    private bool _ackNow;
    private int _ackElicitingSinceAck;
    private long _ackDeadline = long.MaxValue;
    private long _largestReceivedAt;

    // Nack: the lowest missing packet number, since when it has been missing, and whether it was asked for.
    private long _gapFirst;
    private long _gapSince = long.MaxValue;
    private bool _gapNacked;
    private long _nackFirst;
    private ushort _nackCount;

    public AckTracker(int ackEveryPackets, TimeSpan maxAckDelay)
    {
        _ackEveryPackets = ackEveryPackets;
        _maxAckDelayMicros = (long)maxAckDelay.TotalMicroseconds;
        _received.Record(0); // packet number 0 is never used by a session: start the floor above it
    }

    /// <summary>The highest packet number accepted so far (what the next number on the wire is expanded against).</summary>
    public long LargestReceived { get; private set; }

    /// <summary>An Ack frame is owed (at the deadline, or at once).</summary>
    public bool AckPending => _ackPending || _ackNow;

    /// <summary>A Nack frame is owed.</summary>
    public bool NackDue { get; private set; }

    /// <summary>True when <paramref name="number"/> was accepted before (or lies below the floor of what is remembered).</summary>
    public bool Contains(long number) => _received.Contains(number);

    /// <summary>True when <paramref name="number"/> authenticated before but its contents were refused.</summary>
    public bool WasRefused(long number) => _refusedNumbers is { } refused && Array.IndexOf(refused, number) >= 0;

    /// <summary>A packet that authenticated was refused (no room): it is not acknowledged, and a copy of it is not processed again.</summary>
    public void RememberRefused(long number)
    {
        _refusedNumbers ??= new long[RefusedRemembered];
        _refusedNumbers[_refusedNext] = number;
        _refusedNext = (_refusedNext + 1) % RefusedRemembered;
    }

    /// <summary>Acknowledge with the next packet: a copy of a packet came (our acknowledgement was probably lost) or a heartbeat asks for its echo.</summary>
    public void AckNow() => _ackNow = true;

    /// <summary>
    /// Something to confirm appeared after the packets that brought it were acknowledged (the
    /// application's handler returned later): an acknowledgement becomes due within the ack delay,
    /// so the confirmation rides with it instead of waiting for the next eliciting packet.
    /// </summary>
    public void OnConfirmationPending(long now)
    {
        if (!_ackPending && !_ackNow)
        {
            _ackPending = true;
            _ackDeadline = now + _maxAckDelayMicros;
        }
    }

    /// <summary>True when an Ack frame should go out at <paramref name="now"/>.</summary>
    public bool AckDue(long now) => _ackNow || (_ackPending && now >= _ackDeadline);

    /// <summary>
    /// Records an accepted packet (<paramref name="elicits"/>: it carried something that asks for
    /// an acknowledgement) and follows the lowest gap. True when it is the newest packet so far.
    /// </summary>
    public bool OnAccepted(long number, bool elicits, long now)
    {
        _received.Record(number);
        bool outOfOrder = number != LargestReceived + 1;
        if (number > LargestReceived)
        {
            LargestReceived = number;
            _largestReceivedAt = now;
        }

        if (elicits)
        {
            _ackPending = true;
            if (++_ackElicitingSinceAck >= _ackEveryPackets || outOfOrder)
            {
                _ackNow = true;
            }
            else if (_ackDeadline == long.MaxValue)
            {
                _ackDeadline = now + _maxAckDelayMicros;
            }
        }

        TrackGap(now);
        return number == LargestReceived;
    }

    /// <summary>Writes the Ack frame (newest ranges first, as many as fit); when written, nothing is owed until the next eliciting packet.</summary>
    public void WriteAck(ref FrameWriter writer, long now)
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
    }

    /// <summary>Writes the owed Nack frame if it fits.</summary>
    public void WriteNack(ref FrameWriter writer)
    {
        if (NackDue && writer.TryWriteNack((uint)_nackFirst, _nackCount))
        {
            NackDue = false;
        }
    }

    /// <summary>The gap that has been missing for <paramref name="nackDelayMicros"/> is asked for (once).</summary>
    public void OnTimer(long now, long nackDelayMicros)
    {
        if (_gapSince != long.MaxValue && !_gapNacked && now - _gapSince >= nackDelayMicros)
        {
            if (_received.TryGetLowestGap(out long first, out long count) && first == _gapFirst)
            {
                _nackFirst = first;
                _nackCount = (ushort)Math.Min(count, ushort.MaxValue);
                NackDue = true;
            }

            _gapNacked = true;
        }
    }

    /// <summary>When this tracker next needs the timer: the delayed ack's deadline, the Nack delay of the lowest gap.</summary>
    public long NextDeadline(long nackDelayMicros)
    {
        long deadline = _ackPending && !_ackNow ? _ackDeadline : long.MaxValue;
        if (_gapSince != long.MaxValue && !_gapNacked)
        {
            deadline = Math.Min(deadline, _gapSince + nackDelayMicros);
        }

        return deadline;
    }

    /// <summary>Forgets what arrived and counts every number below <paramref name="next"/> as received (a session's end; tests near the 32-bit wrap).</summary>
    public void Reset(long next)
    {
        _received.Reset(next);
        LargestReceived = next - 1;
    }

    public string Describe() => $"ack {_ackPending}/{_ackNow}/{_ackDeadline} gap {_gapSince}/{_gapNacked}";

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
}
