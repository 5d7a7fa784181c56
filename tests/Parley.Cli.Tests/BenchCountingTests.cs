using Parley.Bench;

namespace Parley.Cli.Tests;

public class BenchCountingTests
{
    [Fact]
    public void An_in_order_stream_counts_nothing_lost_duplicated_or_reordered()
    {
        var tracker = new SequenceTracker();
        for (int i = 0; i < 100; i++)
        {
            Assert.Equal(Arrival.InOrder, tracker.Record(i));
        }

        Assert.Equal(0, tracker.Lost(sent: 100));
    }

    [Fact]
    public void Messages_never_received_count_as_lost_whether_in_a_gap_or_at_the_tail()
    {
        var tracker = new SequenceTracker();
        tracker.Record(0);
        tracker.Record(1);
        Assert.Equal(Arrival.AfterGap, tracker.Record(5)); // 2, 3, 4 missing
        tracker.Record(6);
        Assert.Equal(3 + 3, tracker.Lost(sent: 10));       // gap of 3, tail 7..9
    }

    [Fact]
    public void A_late_arrival_fills_its_gap_as_reordered_and_a_repeat_is_a_duplicate()
    {
        var tracker = new SequenceTracker();
        tracker.Record(0);
        tracker.Record(2);
        Assert.Equal(Arrival.Reordered, tracker.Record(1));
        Assert.Equal(0, tracker.Lost(sent: 3));
        Assert.Equal(Arrival.Duplicate, tracker.Record(1));
        Assert.Equal(Arrival.Duplicate, tracker.Record(2));
        Assert.Equal(0, tracker.Lost(sent: 3));
    }

    [Fact]
    public void Histogram_percentiles_are_within_a_few_percent_of_the_exact_values()
    {
        var histogram = new LatencyHistogram();
        for (long value = 1; value <= 100_000; value++)
        {
            histogram.Record(value);
        }

        Assert.Equal(100_000, histogram.Count);
        Assert.Equal(100_000, histogram.Max);
        foreach ((double percentile, long exact) in new[] { (50.0, 50_000L), (90.0, 90_000L), (99.0, 99_000L), (99.9, 99_900L) })
        {
            long reported = histogram.Percentile(percentile);
            Assert.InRange(reported, exact, exact * 1.04);
        }
    }

    [Fact]
    public void Histogram_reports_small_values_exactly_and_merges_counts()
    {
        var a = new LatencyHistogram();
        var b = new LatencyHistogram();
        a.Record(3);
        a.Record(3);
        b.Record(7);
        b.Record(20);
        a.Add(b);
        Assert.Equal(4, a.Count);
        Assert.Equal(3, a.Percentile(50));
        Assert.Equal(7, a.Percentile(75));
        Assert.Equal(20, a.Percentile(100));
        Assert.Equal(0, new LatencyHistogram().Percentile(99));
    }
}
