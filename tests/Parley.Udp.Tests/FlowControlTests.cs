namespace Parley.Udp.Tests;

/// <summary>Credit on both sides of a session: what the sender may send, what the receiver admits and advertises.</summary>
public class FlowControlTests
{
    [Fact]
    public void The_sender_is_blocked_past_its_credit_until_a_higher_window_comes()
    {
        var credit = new SendCredit();
        credit.Start(10_000);
        Assert.True(credit.Allows(6000, now: 0));
        credit.Take(6000);
        Assert.Equal(4000u, credit.Left);
        Assert.False(credit.Allows(6000, now: 50));
        Assert.True(credit.Blocked);

        credit.OnWindow(12_000); // the limit moves up from 10 000
        Assert.False(credit.Blocked);
        Assert.Equal(6000u, credit.Left);
        credit.OnWindow(11_000); // an older update arriving late changes nothing
        Assert.Equal(6000u, credit.Left);
    }

    [Fact]
    public void Credit_counts_mod_2_to_the_32()
    {
        var credit = new SendCredit();
        credit.Start(uint.MaxValue - 100);
        credit.Take(uint.MaxValue - 200);
        credit.OnWindow(50); // wrapped past 2^32: still higher
        Assert.Equal(251u, credit.Left); // 50 − (2^32 − 201)
    }

    [Fact]
    public void A_sender_blocked_with_nothing_in_flight_asks_again_after_a_timeout()
    {
        var credit = new SendCredit();
        credit.Start(100);
        Assert.False(credit.Allows(200, now: 1000));
        Assert.Equal(long.MaxValue, credit.NextDeadline(nothingInFlight: false, timeoutMicros: 5000));
        Assert.Equal(6000, credit.NextDeadline(nothingInFlight: true, timeoutMicros: 5000));
        Assert.False(credit.OnTimer(5999, true, 5000));
        Assert.True(credit.OnTimer(6000, true, 5000));
        Assert.Equal(11_000, credit.NextDeadline(true, 5000)); // and again a timeout later
    }

    [Fact]
    public void The_receiver_admits_up_to_its_window_and_advertises_again_after_a_quarter_was_consumed()
    {
        var credit = new ReceiveCredit(8000);
        Assert.True(credit.Admits(8000, waits: false, length: 8000));
        Assert.False(credit.Admits(8001, waits: false, length: 8001));
        credit.OnArrived(6000);
        credit.OnQueued(ReceiveCredit.ExtraFor(6000));
        Assert.False(credit.Admits(2001, false, 2001));
        Assert.True(credit.Admits(2000, false, 2000));

        credit.OnConsumed(1999, ReceiveCredit.ExtraFor(6000));
        Assert.False(credit.WindowUpdateDue);
        credit.OnConsumed(1, 0);
        Assert.True(credit.WindowUpdateDue); // 2000 of 8000 consumed

        byte[] buffer = new byte[16];
        var writer = new FrameWriter(buffer);
        credit.WriteWindow(ref writer);
        var reader = new FrameReader(buffer.AsSpan(0, writer.Written));
        Assert.True(reader.TryReadNext());
        Assert.Equal((FrameType.Window, 10_000u), (reader.Type, reader.Value)); // consumed + window
        Assert.False(credit.WindowUpdateDue);
    }

    [Fact]
    public void A_waiting_message_is_charged_what_it_holds_beyond_its_bytes()
    {
        var credit = new ReceiveCredit(1000);
        int extra = ReceiveCredit.ExtraFor(0); // a 64-byte buffer and a 96-byte entry
        Assert.Equal(160, extra);
        int admitted = 0;
        while (credit.Admits(0, waits: true, length: 0))
        {
            credit.OnWaiting(0, 64);
            admitted++;
        }

        Assert.Equal(1000 / extra, admitted);
        Assert.True(credit.Admits(0, waits: false, length: 0)); // the next in order is still taken
        credit.OnWaitingDone(0, 64);
        Assert.True(credit.Admits(0, waits: true, length: 0));
    }

    [Fact]
    public void Messages_queued_for_the_application_have_a_budget_of_one_window_for_what_they_hold_beyond_their_bytes()
    {
        var credit = new ReceiveCredit(1000);
        int queued = 0;
        while (credit.Admits(0, waits: false, length: 0))
        {
            credit.OnQueued(ReceiveCredit.ExtraFor(0));
            queued++;
        }

        Assert.Equal(6, queued); // 6 × 160 ≤ 1000
        credit.OnConsumed(0, ReceiveCredit.ExtraFor(0));
        Assert.True(credit.Admits(0, false, 0));
    }
}
