namespace Parley.Bench;

/// <summary>
/// A log-linear histogram of latencies in microseconds (HdrHistogram's layout, simplified):
/// 32 linear sub-buckets per power of two, so any recorded value is reported within about 3 %.
/// 4 KiB per instance; one per connection, merged at the end, so recording needs no lock.
/// </summary>
internal sealed class LatencyHistogram
{
    private const int SubBucketBits = 5;
    private const int SubBuckets = 1 << SubBucketBits;
    private const int Magnitudes = 32;
    private readonly long[] _counts = new long[Magnitudes * SubBuckets];

    public long Count { get; private set; }

    public long Max { get; private set; }

    public void Record(long microseconds)
    {
        if (microseconds < 0)
        {
            microseconds = 0;
        }

        _counts[Index(microseconds)]++;
        Count++;
        if (microseconds > Max)
        {
            Max = microseconds;
        }
    }

    public void Add(LatencyHistogram other)
    {
        for (int i = 0; i < _counts.Length; i++)
        {
            _counts[i] += other._counts[i];
        }

        Count += other.Count;
        Max = Math.Max(Max, other.Max);
    }

    /// <summary>The value at or below which <paramref name="percentile"/> % of the recorded values lie (upper bucket edge).</summary>
    public long Percentile(double percentile)
    {
        if (Count == 0)
        {
            return 0;
        }

        long rank = Math.Max(1, (long)Math.Ceiling(Count * percentile / 100.0));
        long seen = 0;
        for (int i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
            {
                return Math.Min(UpperEdge(i), Max);
            }
        }

        return Max;
    }

    private static int Index(long value)
    {
        if (value < SubBuckets)
        {
            return (int)value;
        }

        // Shift so the value keeps its top SubBucketBits + 1 bits: 32..63, i.e. 32 sub-buckets.
        int shift = 63 - (int)long.LeadingZeroCount(value) - SubBucketBits;
        int sub = (int)(value >> shift) - SubBuckets;
        return Math.Min(((shift + 1) * SubBuckets) + sub, (Magnitudes * SubBuckets) - 1);
    }

    private static long UpperEdge(int index)
    {
        if (index < SubBuckets)
        {
            return index;
        }

        int shift = (index / SubBuckets) - 1;
        int sub = index % SubBuckets;
        return ((long)(SubBuckets + sub + 1) << shift) - 1;
    }

    /// <summary>The percentiles, maximum and count, for a JSON report.</summary>
    public System.Text.Json.Nodes.JsonObject ToJson() => new()
    {
        ["p50"] = Percentile(50),
        ["p90"] = Percentile(90),
        ["p99"] = Percentile(99),
        ["p999"] = Percentile(99.9),
        ["max"] = Max,
        ["count"] = Count,
    };
}
