namespace Parley.Udp.Tests;

public class CongestionControllerTests
{
    private const int Mss = 1200;

    /// <summary>Sends a full window, acks all of it: one round trip. Returns the next packet number.</summary>
    private static long RoundTrip(CongestionController cc, long next)
    {
        var sent = new List<long>();
        while (cc.CanSend(Mss))
        {
            cc.OnSent(Mss, next);
            sent.Add(next++);
        }

        foreach (long packet in sent)
        {
            cc.OnAcked(packet, Mss);
        }

        return next;
    }

    [Fact]
    public void Slow_start_doubles_the_window_each_round_trip_until_a_loss()
    {
        var cc = new CongestionController(Mss, initialPackets: 10);
        long next = 0;
        long before = cc.Window;
        next = RoundTrip(cc, next);
        Assert.Equal(2 * before, cc.Window);
        RoundTrip(cc, next);
        Assert.Equal(4 * before, cc.Window);
        Assert.True(cc.InSlowStart);
    }

    [Fact]
    public void A_loss_cuts_the_window_to_seven_tenths_once_per_recovery_period_then_growth_is_additive()
    {
        var cc = new CongestionController(Mss, initialPackets: 20);
        for (int i = 0; i < 20; i++)
        {
            cc.OnSent(Mss, i);
        }

        long window = cc.Window;
        cc.OnLost(3, Mss, largestSentPacket: 19);
        Assert.Equal(window * 7 / 10, cc.Window);
        cc.OnLost(5, Mss, largestSentPacket: 19); // same episode: no second cut
        Assert.Equal(window * 7 / 10, cc.Window);
        Assert.False(cc.InSlowStart);

        for (long p = 6; p < 20; p++)
        {
            cc.OnAcked(p, Mss); // acks of packets from before the cut do not grow it
        }

        Assert.Equal(window * 7 / 10, cc.Window);
        foreach (long p in new long[] { 0, 1, 2, 4 })
        {
            cc.OnAcked(p, Mss); // the rest of the old flight
        }

        Assert.Equal(0, cc.BytesInFlight);
        long afterCut = cc.Window;
        RoundTrip(cc, 20);
        Assert.InRange(cc.Window - afterCut, Mss * 9 / 10, Mss); // about one packet per round trip (a bit less, as the window grows during it)
    }

    [Fact]
    public void The_window_never_falls_below_two_packets_and_in_flight_bytes_never_go_negative()
    {
        var cc = new CongestionController(Mss, initialPackets: 2);
        for (long p = 0; p < 50; p++)
        {
            cc.OnSent(Mss);
            cc.OnLost(p, Mss, largestSentPacket: p);
        }

        Assert.Equal(2 * Mss, cc.Window);
        cc.OnAcked(1000, 10 * Mss);
        Assert.Equal(0, cc.BytesInFlight);
    }
}

public class RandomLossToleranceTests
{
    [Fact]
    public void Occasional_loss_on_a_path_without_queueing_does_not_shrink_the_window_but_heavy_loss_or_a_growing_queue_does()
    {
        var tolerant = new CongestionController(1200, initialPackets: 10, randomLossTolerance: 0.15);
        long packet = 0;
        var inFlight = new Queue<long>();
        for (int i = 0; i < 2000; i++)
        {
            while (tolerant.CanSend(1200))
            {
                tolerant.OnSent(1200, packet); // the sender keeps the window full
                inFlight.Enqueue(packet++);
            }

            long oldest = inFlight.Dequeue();
            if (i % 20 == 0)
            {
                tolerant.OnLost(oldest, 1200, packet - 1, queueBuilding: false); // 5 % random loss
            }
            else
            {
                tolerant.OnAcked(oldest, 1200);
            }
        }

        Assert.True(tolerant.Window > 100 * 1200, $"window {tolerant.Window}");
        Assert.InRange(tolerant.LossRate, 0.02, 0.10);

        long before = tolerant.Window;
        tolerant.OnLost(inFlight.Dequeue(), 1200, packet - 1, queueBuilding: true);
        Assert.Equal(before * 7 / 10, tolerant.Window);

        var heavy = new CongestionController(1200, initialPackets: 10, randomLossTolerance: 0.15);
        for (int i = 0; i < 200; i++)
        {
            heavy.OnSent(1200);
            heavy.OnLost(i, 1200, i, queueBuilding: false); // 100 % loss: the smoothed rate passes the tolerance
        }

        Assert.Equal(2 * 1200, heavy.Window);
    }
}

public class DelayAwareGrowthTests
{
    private const int Mss = 1200;

    // One round trip: fill the window, then acknowledge all of it with the given queue signal.
    private static long RoundTrip(CongestionController cc, long next, bool queueBuilding)
    {
        var sent = new List<long>();
        while (cc.CanSend(Mss))
        {
            cc.OnSent(Mss, next);
            sent.Add(next++);
        }

        foreach (long packet in sent)
        {
            cc.OnAcked(packet, Mss, queueBuilding);
        }

        return next;
    }

    [Fact]
    public void After_a_cut_the_window_doubles_per_round_trip_while_no_queue_forms_and_grows_by_about_a_packet_once_one_does()
    {
        var cc = new CongestionController(Mss, initialPackets: 20);
        cc.OnSent(Mss, 0);
        cc.OnLost(0, Mss, largestSentPacket: 0, queueBuilding: true); // a cut: slow start is over
        Assert.False(cc.InSlowStart);
        long next = 1;

        long before = cc.Window;
        next = RoundTrip(cc, next, queueBuilding: false);
        Assert.InRange(cc.Window, (before * 2) - Mss, before * 2);

        before = cc.Window;
        RoundTrip(cc, next, queueBuilding: true);
        Assert.InRange(cc.Window - before, Mss * 9 / 10, Mss);
    }
}
