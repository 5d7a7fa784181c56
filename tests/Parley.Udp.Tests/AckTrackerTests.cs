namespace Parley.Udp.Tests;

/// <summary>The receiving side's acknowledgement policy and Nack timing, on a hand-moved clock (microseconds).</summary>
public class AckTrackerTests
{
    private static readonly TimeSpan AckDelay = TimeSpan.FromMilliseconds(1);

    private static (AckRange[] Ranges, bool Written) WriteAck(AckTracker acks, long now)
    {
        byte[] buffer = new byte[1200];
        var writer = new FrameWriter(buffer);
        acks.WriteAck(ref writer, now);
        var reader = new FrameReader(buffer.AsSpan(0, writer.Written));
        if (!reader.TryReadNext())
        {
            return ([], false);
        }

        Assert.Equal(FrameType.Ack, reader.Type);
        var ranges = new AckRange[reader.AckRangeCount];
        for (int i = 0; i < ranges.Length; i++)
        {
            ranges[i] = reader.AckRangeAt(i);
        }

        return (ranges, true);
    }

    [Fact]
    public void Every_second_eliciting_packet_in_order_is_acknowledged_at_once_and_a_single_one_within_the_ack_delay()
    {
        var acks = new AckTracker(ackEveryPackets: 2, AckDelay);
        acks.OnAccepted(1, elicits: true, now: 100);
        Assert.False(acks.AckDue(100));
        Assert.Equal(1100, acks.NextDeadline(nackDelayMicros: 10_000));
        Assert.True(acks.AckDue(1100));

        acks.OnAccepted(2, elicits: true, now: 200);
        Assert.True(acks.AckDue(200)); // the second one: at once
        (AckRange[] ranges, bool written) = WriteAck(acks, 300);
        Assert.True(written);
        Assert.Equal([new AckRange(0, 2)], ranges); // 0 is never used: the floor starts above it
        Assert.False(acks.AckPending);
        Assert.Equal(long.MaxValue, acks.NextDeadline(10_000));
    }

    [Fact]
    public void A_packet_that_elicits_nothing_is_recorded_but_owes_no_acknowledgement()
    {
        var acks = new AckTracker(2, AckDelay);
        Assert.True(acks.OnAccepted(1, elicits: false, now: 0));
        Assert.False(acks.AckPending);
        Assert.True(acks.Contains(1));
        Assert.False(acks.Contains(2));
    }

    [Fact]
    public void An_out_of_order_packet_is_acknowledged_at_once_with_its_gap_and_the_gap_is_nacked_after_the_delay()
    {
        var acks = new AckTracker(10, AckDelay);
        acks.OnAccepted(1, true, 0);
        Assert.True(acks.OnAccepted(4, true, 10)); // 2 and 3 missing
        Assert.True(acks.AckDue(10));
        (AckRange[] ranges, _) = WriteAck(acks, 10);
        Assert.Equal([new AckRange(4, 4), new AckRange(0, 1)], ranges); // newest first

        Assert.Equal(5010, acks.NextDeadline(nackDelayMicros: 5000));
        acks.OnTimer(5009, 5000);
        Assert.False(acks.NackDue);
        acks.OnTimer(5010, 5000);
        Assert.True(acks.NackDue);

        byte[] buffer = new byte[64];
        var writer = new FrameWriter(buffer);
        acks.WriteNack(ref writer);
        var reader = new FrameReader(buffer.AsSpan(0, writer.Written));
        Assert.True(reader.TryReadNext());
        Assert.Equal(FrameType.Nack, reader.Type);
        Assert.Equal((2u, (ushort)2), (reader.Value, reader.Count));
        Assert.False(acks.NackDue);
        acks.OnTimer(20_000, 5000);
        Assert.False(acks.NackDue); // asked once
    }

    [Fact]
    public void A_gap_that_fills_before_the_delay_is_not_nacked()
    {
        var acks = new AckTracker(10, AckDelay);
        acks.OnAccepted(1, true, 0);
        acks.OnAccepted(3, true, 10);
        Assert.False(acks.OnAccepted(2, true, 20)); // a late one: not the newest
        Assert.Equal(long.MaxValue, acks.NextDeadline(5000)); // no gap left to time (and the acknowledgement is due at once)
        acks.OnTimer(10_000, 5000);
        Assert.False(acks.NackDue);
    }

    [Fact]
    public void A_refused_packet_is_remembered_but_not_acknowledged()
    {
        var acks = new AckTracker(2, AckDelay);
        acks.RememberRefused(7);
        Assert.True(acks.WasRefused(7));
        Assert.False(acks.Contains(7));
        Assert.False(acks.WasRefused(8));
    }

    [Fact]
    public void A_confirmation_after_the_ack_went_makes_an_ack_due_within_the_delay_but_does_not_move_an_earlier_deadline()
    {
        var acks = new AckTracker(10, AckDelay);
        acks.OnConfirmationPending(now: 500);
        Assert.True(acks.AckPending);
        Assert.Equal(1500, acks.NextDeadline(10_000));

        var other = new AckTracker(10, AckDelay);
        other.OnAccepted(1, true, 100);
        other.OnConfirmationPending(now: 900);
        Assert.Equal(1100, other.NextDeadline(10_000)); // rides with the acknowledgement already owed
    }
}
