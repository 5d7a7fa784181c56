using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;

namespace Parley.Cli;

/// <summary>Totals of Parley's counters, read through a <see cref="MeterListener"/>, for the periodic summary line.</summary>
internal sealed partial class MetricsSummary : IDisposable
{
    private readonly MeterListener _listener = new();
    private long _messagesIn;
    private long _messagesOut;
    private long _bytesIn;
    private long _bytesOut;
    private long _opened;
    private long _closed;
    private long _dropped;
    private long _writes;
    private long _reads;
    private long _lastMessagesIn;
    private long _lastTimestamp = Environment.TickCount64;

    public MetricsSummary()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == ParleyMetrics.MeterName && instrument is Counter<long>)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            switch (instrument.Name)
            {
                case "parley.messages.received": Interlocked.Add(ref _messagesIn, value); break;
                case "parley.messages.sent": Interlocked.Add(ref _messagesOut, value); break;
                case "parley.bytes.received": Interlocked.Add(ref _bytesIn, value); break;
                case "parley.bytes.sent": Interlocked.Add(ref _bytesOut, value); break;
                case "parley.connections.opened": Interlocked.Add(ref _opened, value); break;
                case "parley.connections.closed": Interlocked.Add(ref _closed, value); break;
                case "parley.messages.dropped": Interlocked.Add(ref _dropped, value); break;
                case "parley.writes": Interlocked.Add(ref _writes, value); break;
                case "parley.reads": Interlocked.Add(ref _reads, value); break;
                default: break;
            }
        });
        _listener.Start();
    }

    public void Log(ILogger logger, int open)
    {
        long now = Environment.TickCount64;
        long messagesIn = Interlocked.Read(ref _messagesIn);
        double seconds = Math.Max(0.001, (now - _lastTimestamp) / 1000.0);
        long rate = (long)((messagesIn - _lastMessagesIn) / seconds);
        _lastMessagesIn = messagesIn;
        _lastTimestamp = now;
        LogSummary(
            logger, open, Interlocked.Read(ref _opened), Interlocked.Read(ref _closed), messagesIn, rate,
            Interlocked.Read(ref _messagesOut), Interlocked.Read(ref _bytesIn), Interlocked.Read(ref _bytesOut),
            Interlocked.Read(ref _dropped), Interlocked.Read(ref _reads), Interlocked.Read(ref _writes), Environment.WorkingSet / (1024 * 1024));
    }

    public void Dispose() => _listener.Dispose();

    [LoggerMessage(10, LogLevel.Information,
        "summary: connections open={Open} opened={Opened} closed={Closed} | messages in={MessagesIn} ({Rate}/s) out={MessagesOut} | bytes in={BytesIn} out={BytesOut} | dropped={Dropped} | reads={Reads} writes={Writes} | rss={RssMiB} MiB")]
    private static partial void LogSummary(
        ILogger logger, int open, long opened, long closed, long messagesIn, long rate, long messagesOut, long bytesIn, long bytesOut, long dropped, long reads, long writes, long rssMiB);
}
