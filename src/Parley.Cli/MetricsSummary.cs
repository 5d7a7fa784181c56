using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;

namespace Parley.Cli;

/// <summary>Totals of Parley's counters, read through a <see cref="MeterListener"/>, for the periodic summary line.</summary>
internal sealed partial class MetricsSummary : IDisposable
{
    private static readonly string[] Names =
    [
        "parley.messages.received", "parley.messages.sent", "parley.bytes.received", "parley.bytes.sent",
        "parley.connections.opened", "parley.connections.closed", "parley.messages.dropped", "parley.writes", "parley.reads",
    ];

    private readonly MeterListener _listener = new();

    // One slot per counter, found once when the instrument is published and handed back as the
    // measurement's state: the callback, which runs on the server's hot path, does one atomic add.
    private readonly StrongBox<long>[] _totals = [.. Names.Select(_ => new StrongBox<long>())];
    private readonly Func<long>? _historyBytes;
    private long _lastMessagesIn;
    private long _lastTimestamp = Environment.TickCount64;

    /// <param name="historyBytes">The memory a chat server's history holds, for <c>parley serve</c>'s line; none for other servers.</param>
    public MetricsSummary(Func<long>? historyBytes = null)
    {
        _historyBytes = historyBytes;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            int index = Array.IndexOf(Names, instrument.Name);
            if (instrument.Meter.Name == ParleyMetrics.MeterName && instrument is Counter<long> && index >= 0)
            {
                listener.EnableMeasurementEvents(instrument, _totals[index]);
            }
        };
        _listener.SetMeasurementEventCallback<long>(static (_, value, _, state) => Interlocked.Add(ref ((StrongBox<long>)state!).Value, value));
        _listener.Start();
    }

    private long Total(string name) => Interlocked.Read(ref _totals[Array.IndexOf(Names, name)].Value);

    public void Log(ILogger logger, int open)
    {
        long now = Environment.TickCount64;
        long messagesIn = Total("parley.messages.received");
        double seconds = Math.Max(0.001, (now - _lastTimestamp) / 1000.0);
        long rate = (long)((messagesIn - _lastMessagesIn) / seconds);
        _lastMessagesIn = messagesIn;
        _lastTimestamp = now;
        LogSummary(
            logger, open, Total("parley.connections.opened"), Total("parley.connections.closed"), messagesIn, rate,
            Total("parley.messages.sent"), Total("parley.bytes.received"), Total("parley.bytes.sent"),
            Total("parley.messages.dropped"), Total("parley.reads"), Total("parley.writes"), Environment.WorkingSet / (1024 * 1024),
            GC.GetTotalMemory(forceFullCollection: false) / (1024 * 1024), GC.GetGCMemoryInfo().TotalCommittedBytes / (1024 * 1024), GC.GetTotalAllocatedBytes() / (1024 * 1024),
            BufferPool.Shared.OutstandingBytes / 1024, BufferPool.Shared.RetainedBytes / 1024, (_historyBytes?.Invoke() ?? 0) / 1024, GC.CollectionCount(0), GC.CollectionCount(2));
    }

    /// <summary>Logs a summary every <paramref name="interval"/> until Ctrl-C or SIGTERM cancels <paramref name="cancellationToken"/>.</summary>
    public async Task LogUntilStoppedAsync(ILogger logger, Func<int> openConnections, TimeSpan interval, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                Log(logger, openConnections());
            }
        }
        catch (OperationCanceledException)
        {
            // Ctrl-C or SIGTERM: the caller goes on to its ordered shutdown.
        }
    }

    public void Dispose() => _listener.Dispose();

    [LoggerMessage(10, LogLevel.Information,
        "summary: connections open={Open} opened={Opened} closed={Closed} | messages in={MessagesIn} ({Rate}/s) out={MessagesOut} | bytes in={BytesIn} out={BytesOut} | dropped={Dropped} | reads={Reads} writes={Writes} | rss={RssMiB} MiB gc heap={HeapMiB} MiB committed={CommittedMiB} MiB allocated={AllocatedMiB} MiB | buffers in use={BuffersInUseKiB} KiB pooled={BuffersPooledKiB} KiB | history={HistoryKiB} KiB | gen0={Gen0} gen2={Gen2}")]
    private static partial void LogSummary(
        ILogger logger, int open, long opened, long closed, long messagesIn, long rate, long messagesOut, long bytesIn, long bytesOut, long dropped, long reads, long writes, long rssMiB, long heapMiB, long committedMiB, long allocatedMiB,
        long buffersInUseKiB, long buffersPooledKiB, long historyKiB, int gen0, int gen2);
}
