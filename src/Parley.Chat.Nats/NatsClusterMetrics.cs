using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Parley.Chat.Nats;

/// <summary>
/// The cluster's instruments, on the meter <c>Parley.Chat.Nats</c>: publish latency
/// (<c>parley.cluster.publish.duration</c>, s), failed publishes, redeliveries the node dropped,
/// and per node the consumer's lag (<c>parley.cluster.consumer.lag</c>, messages) and the last
/// sequence delivered.
/// </summary>
public static class NatsClusterMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "Parley.Chat.Nats";

    private static readonly Meter s_meter = new(MeterName);
    private static readonly ConcurrentDictionary<NatsChatBackplane, byte> s_nodes = new();

    internal static readonly Histogram<double> PublishDuration = s_meter.CreateHistogram<double>(
        "parley.cluster.publish.duration", "s", "From a send's publish to JetStream's confirmation that it stored it.",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] });

    internal static readonly Counter<long> PublishFailures = s_meter.CreateCounter<long>(
        "parley.cluster.publish.failures", "{message}", "Sends refused with unavailable: NATS unreachable, or no confirmation in time.");

    internal static readonly Counter<long> Redeliveries = s_meter.CreateCounter<long>(
        "parley.cluster.redeliveries", "{message}", "Messages the stream handed over again (a resumed consumer's overlap); dropped, never delivered twice.");

    static NatsClusterMetrics()
    {
        s_meter.CreateObservableGauge("parley.cluster.consumer.lag", () => s_nodes.Keys.Select(n => new Measurement<long>(n.Lag, new KeyValuePair<string, object?>("node", n.NodeName))), "{message}", "Messages the stream holds that this node has not delivered yet.");
        s_meter.CreateObservableGauge("parley.cluster.delivered", () => s_nodes.Keys.Select(n => new Measurement<long>(n.DeliveredSequence, new KeyValuePair<string, object?>("node", n.NodeName))), "{sequence}", "The last stream sequence this node delivered.");
        s_meter.CreateObservableGauge("parley.cluster.connected", () => s_nodes.Keys.Select(n => new Measurement<int>(n.Connected ? 1 : 0, new KeyValuePair<string, object?>("node", n.NodeName))), null, "1 while the node is connected to NATS.");
    }

    internal static void Attach(NatsChatBackplane node) => s_nodes.TryAdd(node, 0);

    internal static void Detach(NatsChatBackplane node) => s_nodes.TryRemove(node, out _);
}
