namespace Parley.Udp.Tests;

public class ReliabilityStateTests
{
    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    [Fact]
    public void Rtt_follows_RFC_6298_for_the_first_and_later_samples()
    {
        var rtt = new RttEstimator(Ms(1000), Ms(10), Ms(60_000));
        Assert.Equal(Ms(1000), rtt.Rto);
        rtt.AddSample(Ms(100));
        Assert.Equal(Ms(100), rtt.SmoothedRtt);
        Assert.Equal(Ms(50), rtt.RttVariation);
        Assert.Equal(Ms(300), rtt.Rto);               // 100 + 4·50
        rtt.AddSample(Ms(200));
        Assert.Equal(Ms(112.5), rtt.SmoothedRtt);     // 7/8·100 + 1/8·200
        Assert.Equal(Ms(62.5), rtt.RttVariation);     // 3/4·50 + 1/4·|100−200|
        Assert.Equal(Ms(362.5), rtt.Rto);
    }

    [Fact]
    public void Timeouts_double_the_rto_up_to_the_maximum_and_a_new_sample_ends_the_backoff()
    {
        var rtt = new RttEstimator(Ms(1000), Ms(10), Ms(5000));
        rtt.AddSample(Ms(100));
        rtt.Backoff();
        Assert.Equal(Ms(600), rtt.Rto);
        rtt.Backoff();
        rtt.Backoff();
        rtt.Backoff();
        Assert.Equal(Ms(4800), rtt.Rto);
        rtt.Backoff();
        Assert.Equal(Ms(5000), rtt.Rto);              // clamped
        rtt.AddSample(Ms(100));
        Assert.True(rtt.Rto < Ms(1000));
    }

    [Fact]
    public void Very_small_rtts_are_clamped_to_the_minimum_rto()
    {
        var rtt = new RttEstimator(Ms(1000), Ms(20), Ms(5000));
        for (int i = 0; i < 50; i++)
        {
            rtt.AddSample(Ms(0.05));
        }

        Assert.Equal(Ms(20), rtt.Rto);
    }

    [Fact]
    public void Received_packet_numbers_merge_into_ranges_newest_first_and_duplicates_are_detected()
    {
        var received = new ReceivedPackets();
        foreach (uint n in new uint[] { 1, 2, 3, 7, 8, 5, 10 })
        {
            Assert.True(received.Record(n));
        }

        Assert.False(received.Record(2));
        Assert.False(received.Record(8));
        Span<AckRange> ranges = stackalloc AckRange[8];
        int count = received.WriteRanges(ranges);
        Assert.Equal([new AckRange(10, 10), new AckRange(7, 8), new AckRange(5, 5), new AckRange(1, 3)], ranges[..count].ToArray());

        Assert.True(received.Record(4)); // joins 1–3 and 5
        Assert.True(received.Record(6)); // joins 1–5 and 7–8
        Assert.True(received.Record(9)); // joins everything
        count = received.WriteRanges(ranges);
        Assert.Equal([new AckRange(1, 10)], ranges[..count].ToArray());
    }

    [Fact]
    public void Ranges_stay_bounded_by_folding_the_oldest_into_the_floor()
    {
        var received = new ReceivedPackets(maxRanges: 4);
        for (uint n = 0; n < 100; n += 2)
        {
            Assert.True(received.Record(n)); // every other number: a new range each time
        }

        Assert.Equal(4, received.RangeCount);
        Assert.Equal(91u, received.Floor);     // ranges 92, 94, 96, 98 kept; 90 folded
        Assert.False(received.Record(3));    // below the floor: treated as a duplicate
        Assert.True(received.Record(97));
    }

    [Fact]
    public void Any_arrival_order_of_a_set_of_numbers_gives_the_same_ranges_and_each_counts_once()
    {
        var random = new Random(99);
        uint[] numbers = [.. Enumerable.Range(0, 300).Where(_ => random.NextDouble() < 0.7).Select(n => (uint)n)];
        AckRange[]? reference = null;
        for (int trial = 0; trial < 20; trial++)
        {
            var received = new ReceivedPackets(maxRanges: 1000);
            int accepted = 0;
            foreach (uint n in numbers.Concat(numbers.Take(50)).OrderBy(_ => random.Next()))
            {
                accepted += received.Record(n) ? 1 : 0;
            }

            Assert.Equal(numbers.Length, accepted); // the 50 repeats were duplicates
            AckRange[] ranges = new AckRange[1000];
            AckRange[] written = ranges[..received.WriteRanges(ranges)];
            reference ??= written;
            Assert.Equal(reference, written);
        }
    }
}
