using System.Buffers;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json;
using Parley.Chat;

namespace Parley.Cli;

/// <summary>
/// What the dashboard (<c>/dashboard</c>) draws, once a second, from the server's own
/// <see cref="System.Diagnostics.Metrics"/> instruments (read through a
/// <see cref="MeterListener"/>) and its process: connections by kind, messages stored and
/// delivered per second, slow-consumer events per second, the journal's commit latency (p50,
/// p99 of the second's batches), RSS and CPU. Each sample is published to the chat server's
/// <see cref="ChatMetricsFeed"/> as a <c>metrics</c> event; the last five minutes are kept as the
/// <c>metrics_history</c> a new watcher gets first.
/// </summary>
internal sealed class DashboardFeed : IDisposable
{
    private const int Kept = 300; // five minutes of one-second samples

    private readonly MeterListener _listener = new();
    private readonly Func<(int Tcp, int WebSocket, int Ipc)> _connections;
    private readonly Func<int> _sessions;
    private readonly TimeProvider _time;
    private readonly Queue<byte[]> _samples = new();
    private readonly Lock _lock = new();
    private readonly List<double> _commits = [];
    private long _stored;
    private long _delivered;
    private long _slow;
    private long _lastTimestamp;
    private TimeSpan _lastCpu;
    private ITimer? _timer;

    public DashboardFeed(Func<(int Tcp, int WebSocket, int Ipc)> connections, Func<int> sessions, TimeProvider? time = null)
    {
        _connections = connections;
        _sessions = sessions;
        _time = time ?? TimeProvider.System;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            // A cluster node stores in JetStream, not its journal: each confirmed publish is a message
            // stored, and its confirmation time stands for the commit latency.
            if (instrument.Name is "parley.journal.records.committed" or "parley.journal.commit.duration" or "parley.chat.messages.delivered" or "parley.slow_consumer.events" or "parley.cluster.publish.duration")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>(OnCount);
        _listener.SetMeasurementEventCallback<double>(OnDuration);
        _listener.Start();
    }

    /// <summary>The feed the chat server publishes through (<see cref="ChatServerOptions.MetricsFeed"/>).</summary>
    public ChatMetricsFeed Feed { get; } = new();

    /// <summary>Starts sampling once a second.</summary>
    public void Start()
    {
        _lastTimestamp = _time.GetTimestamp();
        _lastCpu = Process.GetCurrentProcess().TotalProcessorTime;
        _timer = _time.CreateTimer(_ => Sample(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    public void Dispose()
    {
        _timer?.Dispose();
        _listener.Dispose();
    }

    private void OnCount(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        switch (instrument.Name)
        {
            case "parley.journal.records.committed":
                Interlocked.Add(ref _stored, value);
                break;
            case "parley.chat.messages.delivered":
                Interlocked.Add(ref _delivered, value);
                break;
            default:
                Interlocked.Add(ref _slow, value);
                break;
        }
    }

    private void OnDuration(Instrument instrument, double seconds, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        if (instrument.Name == "parley.cluster.publish.duration")
        {
            Interlocked.Increment(ref _stored);
        }

        lock (_lock)
        {
            if (_commits.Count < 100_000)
            {
                _commits.Add(seconds);
            }
        }
    }

    /// <summary>One sample: the rates since the last, the latency of the commits since the last.</summary>
    internal void Sample()
    {
        long now = _time.GetTimestamp();
        double elapsed = Math.Max(_time.GetElapsedTime(_lastTimestamp, now).TotalSeconds, 0.001);
        _lastTimestamp = now;
        TimeSpan cpu = Process.GetCurrentProcess().TotalProcessorTime;
        double cpuPercent = (cpu - _lastCpu).TotalSeconds / elapsed * 100;
        _lastCpu = cpu;

        double[] commits;
        lock (_lock)
        {
            commits = [.. _commits];
            _commits.Clear();
        }

        Array.Sort(commits);
        (int tcp, int webSocket, int ipc) = _connections();
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("t", _time.GetUtcNow());
            json.WriteStartObject("conn");
            json.WriteNumber("tcp", tcp);
            json.WriteNumber("ws", webSocket);
            json.WriteNumber("ipc", ipc);
            json.WriteEndObject();
            json.WriteNumber("stored", Math.Round(Interlocked.Exchange(ref _stored, 0) / elapsed, 1));
            json.WriteNumber("delivered", Math.Round(Interlocked.Exchange(ref _delivered, 0) / elapsed, 1));
            json.WriteNumber("slow", Math.Round(Interlocked.Exchange(ref _slow, 0) / elapsed, 1));
            WritePercentile(json, "commit_p50", commits, 0.50);
            WritePercentile(json, "commit_p99", commits, 0.99);
            json.WriteNumber("rss", Environment.WorkingSet);
            json.WriteNumber("cpu", Math.Round(cpuPercent, 1));
            json.WriteNumber("sessions", _sessions());
            json.WriteEndObject();
        }

        byte[] sample = buffer.WrittenSpan.ToArray();
        byte[] history;
        lock (_lock)
        {
            _samples.Enqueue(sample);
            while (_samples.Count > Kept)
            {
                _samples.Dequeue();
            }

            history = EncodeHistory(_samples);
        }

        Feed.History = history;
        Feed.Publish(EncodeEvent(sample));
    }

    private static void WritePercentile(Utf8JsonWriter json, string name, double[] sorted, double quantile)
    {
        if (sorted.Length == 0)
        {
            json.WriteNull(name);
            return;
        }

        int index = Math.Clamp((int)Math.Ceiling(quantile * sorted.Length) - 1, 0, sorted.Length - 1);
        json.WriteNumber(name, Math.Round(sorted[index], 6));
    }

    // {"_et":"metrics", + the sample's fields
    private static byte[] EncodeEvent(byte[] sample)
    {
        ReadOnlySpan<byte> head = """{"_et":"metrics","""u8;
        byte[] encoded = new byte[head.Length + sample.Length - 1];
        head.CopyTo(encoded);
        sample.AsSpan(1).CopyTo(encoded.AsSpan(head.Length));
        return encoded;
    }

    private static byte[] EncodeHistory(IEnumerable<byte[]> samples)
    {
        var buffer = new ArrayBufferWriter<byte>(64 * 1024);
        buffer.Write("""{"_et":"metrics_history","interval":1,"samples":["""u8);
        bool first = true;
        foreach (byte[] sample in samples)
        {
            if (!first)
            {
                buffer.Write(","u8);
            }

            buffer.Write(sample);
            first = false;
        }

        buffer.Write("]}"u8);
        return buffer.WrittenSpan.ToArray();
    }
}
