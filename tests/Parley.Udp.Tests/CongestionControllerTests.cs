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
            cc.OnSent(Mss);
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
    public void A_loss_halves_the_window_once_per_recovery_period_then_growth_is_additive()
    {
        var cc = new CongestionController(Mss, initialPackets: 20);
        for (int i = 0; i < 20; i++)
        {
            cc.OnSent(Mss);
        }

        long window = cc.Window;
        cc.OnLost(3, Mss, largestSentPacket: 19);
        Assert.Equal(window / 2, cc.Window);
        cc.OnLost(5, Mss, largestSentPacket: 19); // same episode: no second cut
        Assert.Equal(window / 2, cc.Window);
        Assert.False(cc.InSlowStart);

        for (long p = 6; p < 20; p++)
        {
            cc.OnAcked(p, Mss); // acks of packets from before the cut do not grow it
        }

        Assert.Equal(window / 2, cc.Window);
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

    [Fact]
    public void Pacing_spreads_a_window_over_a_round_trip()
    {
        var cc = new CongestionController(Mss, initialPackets: 10);
        TimeSpan interval = cc.PacingInterval(TimeSpan.FromMilliseconds(100), Mss);
        Assert.Equal(TimeSpan.FromMilliseconds(8), interval); // 10 packets over 100 ms with 25 % headroom
        Assert.Equal(TimeSpan.Zero, cc.PacingInterval(TimeSpan.Zero, Mss));
    }
}
