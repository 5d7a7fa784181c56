using System.Text.Json.Serialization;

namespace Parley.Bench;

/// <summary>What a benchmark run measured; serialised as the <c>--json</c> output.</summary>
internal sealed record BenchResult
{
    public required string Workload { get; init; }

    /// <summary>chat: the load profile (rust-readme, rust-stress, burst).</summary>
    public string? Profile { get; init; }

    /// <summary>chat: how many rooms the server's greeting offered (the profiles spread their users over them).</summary>
    public int? Rooms { get; init; }

    /// <summary>chat: messages accepted by the server (acknowledged) per second; <see cref="MsgsPerS"/> counts deliveries.</summary>
    public double? MsgsInPerS { get; init; }

    /// <summary>chat burst: seconds from the first connect until every client was served.</summary>
    public double? TotalS { get; init; }

    /// <summary>chat: error events the server sent.</summary>
    public long? Errors { get; init; }

    public required int Clients { get; init; }

    public required double DurationS { get; init; }

    public int SizeBytes { get; init; }

    public int Inflight { get; init; }

    public long Expected { get; init; }

    public long Delivered { get; init; }

    public long Lost { get; init; }

    public long Duplicated { get; init; }

    public long Reordered { get; init; }

    /// <summary>With several nodes (<c>--targets</c>): how many.</summary>
    public int? Nodes { get; init; }

    /// <summary>With several nodes: messages a client received with an id not above the one before (one order per room broken).</summary>
    public long? OrderViolations { get; init; }

    /// <summary>With several nodes: messages two clients received under different ids (the same message must have one id everywhere).</summary>
    public long? IdMismatches { get; init; }

    public double MsgsPerS { get; init; }

    public double MibPerS { get; init; }

    public double ConnectPerS { get; init; }

    public int ConnectFailures { get; init; }

    public double? RssPerConnectionKb { get; init; }

    /// <summary>The bench process's own CPU over the measured phase (100 % = one core): on one
    /// machine, client and server share the cores, so this says how much the server could get.</summary>
    public double BenchCpuPct { get; init; }

    public required LatencyMs LatencyMs { get; init; }

    public ServerStats? Server { get; init; }
}

internal sealed record LatencyMs(double P50, double P90, double P99, double P999, double Max)
{
    public static LatencyMs From(LatencyHistogram histogram) => new(
        histogram.Percentile(50) / 1000.0,
        histogram.Percentile(90) / 1000.0,
        histogram.Percentile(99) / 1000.0,
        histogram.Percentile(99.9) / 1000.0,
        histogram.Max / 1000.0);
}

internal sealed record ServerStats(double PeakRssMb, double AvgRssMb, double AvgCpuPct, double? RssFirstHalfMb, double? RssSecondHalfMb)
{
    /// <summary>What the RSS is made of, from the server's own summary lines (a <c>parley serve</c> the bench started); null otherwise.</summary>
    public ServerMemoryParts? Memory { get; init; }
}

/// <summary>The largest figures a <c>parley serve</c>'s summary lines gave during the run (one a second).</summary>
/// <param name="GcHeapMb">The managed heap.</param>
/// <param name="BuffersInUseKb">Pooled buffers rented (receive and send buffers, frames in flight).</param>
/// <param name="BuffersPooledKb">Buffers the pool keeps for reuse.</param>
/// <param name="HistoryKb">The rooms' history rings and indexes.</param>
internal sealed record ServerMemoryParts(double GcHeapMb, double BuffersInUseKb, double BuffersPooledKb, double HistoryKb);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(BenchResult))]
internal sealed partial class BenchJsonContext : JsonSerializerContext;
