namespace Parley.Udp.Tests;

/// <summary>The token bucket that spreads a congestion window over the round trip (times in microseconds).</summary>
public class PacerTests
{
    private static RttEstimator Rtt(TimeSpan? sample)
    {
        var rtt = new RttEstimator(TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(20), TimeSpan.FromSeconds(10));
        if (sample is { } value)
        {
            rtt.AddSample(value);
        }

        return rtt;
    }

    [Fact]
    public void Nothing_is_paced_before_the_first_round_trip_sample()
    {
        var pacer = new Pacer();
        pacer.Start(0);
        RttEstimator rtt = Rtt(null);
        for (int i = 0; i < 1000; i++)
        {
            Assert.True(pacer.Allows(0, window: 12_000, rtt, packetSize: 1200));
            pacer.OnSent(1200);
        }
    }

    [Fact]
    public void A_burst_of_ten_packets_goes_then_packets_go_at_one_and_a_quarter_windows_per_round_trip()
    {
        var pacer = new Pacer();
        pacer.Start(0);
        RttEstimator rtt = Rtt(TimeSpan.FromMilliseconds(10)); // 10 ms: 12 000 bytes per RTT → 1.5 bytes/µs at 1.25×
        long now = 1_000_000; // a full bucket: ten packets (more than a millisecond's worth, 1500 bytes)
        int sent = 0;
        while (pacer.Allows(now, 12_000, rtt, 1200))
        {
            pacer.OnSent(1200);
            sent++;
        }

        Assert.Equal(10, sent);
        Assert.Equal(now + 800, pacer.NextAt); // 1200 bytes at 1.5 bytes/µs
        Assert.False(pacer.Allows(now + 799, 12_000, rtt, 1200));
        Assert.True(pacer.Allows(now + 800, 12_000, rtt, 1200));
        Assert.Equal(0, pacer.NextAt);
        pacer.ClearWait();
        Assert.Equal(0, pacer.NextAt);
    }
}
