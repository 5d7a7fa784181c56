using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using Spectre.Console;

namespace Parley.Cli.Bench;

/// <summary>
/// NetCoreServer's echo methodology: C clients each keep M messages of S bytes in flight; every
/// reply is answered with a new message until the time is up. Reports messages per second and
/// round-trip latency.
/// </summary>
internal static class EchoWorkload
{
    private static readonly TimeSpan Warmup = TimeSpan.FromSeconds(1);

    public static async Task<BenchResult> RunAsync(BenchSettings settings, ServerUnderTest server, IAnsiConsole console, CancellationToken cancellationToken)
    {
        int size = Math.Max(settings.Size, 8);
        var pingers = Enumerable.Range(0, settings.Clients).Select(_ => new Pinger(size)).ToArray();
        console.MarkupLineInterpolated($"connecting {settings.Clients} clients to {server.EndPoint} …");
        (List<ParleyClient> clients, int failures, double connectRate) = await BenchClients.ConnectAsync(
            server.EndPoint, settings.Clients, (index, client) => client.MessageReceived += pingers[index].OnMessage, console, cancellationToken);
        if (failures > 0)
        {
            throw new InvalidOperationException($"{failures} of {settings.Clients} clients could not connect");
        }

        try
        {
            foreach ((ParleyClient client, Pinger pinger) in clients.Zip(pingers))
            {
                pinger.Start(client.Connection!, settings.Inflight);
            }

            await Task.Delay(Warmup, cancellationToken);
            server.Sampler?.Reset();
            foreach (Pinger pinger in pingers)
            {
                pinger.BeginMeasuring();
            }

            long start = Stopwatch.GetTimestamp();
            while (Stopwatch.GetElapsedTime(start) < settings.Duration)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
                long sofar = pingers.Sum(p => p.Replies);
                BenchCommand.Progress(console, $"echo {Stopwatch.GetElapsedTime(start).TotalSeconds:F0}/{settings.Duration.TotalSeconds:F0}s  {sofar / Stopwatch.GetElapsedTime(start).TotalSeconds:N0} msg/s", server);
            }

            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            long replies = pingers.Sum(p => p.Replies);
            foreach (Pinger pinger in pingers)
            {
                pinger.Stop();
            }

            var histogram = new LatencyHistogram();
            foreach (Pinger pinger in pingers)
            {
                histogram.Add(pinger.Histogram);
            }

            return new BenchResult
            {
                Workload = "echo",
                Clients = settings.Clients,
                DurationS = Math.Round(seconds, 2),
                SizeBytes = size,
                Inflight = settings.Inflight,
                Expected = replies,
                Delivered = replies,
                MsgsPerS = Math.Round(replies / seconds),
                MibPerS = Math.Round(replies * (double)size / seconds / (1024 * 1024), 2),
                ConnectPerS = Math.Round(connectRate),
                LatencyMs = LatencyMs.From(histogram),
                Server = BenchCommand.ServerStats(server),
            };
        }
        finally
        {
            await BenchClients.CloseAllAsync(clients);
        }
    }

    /// <summary>One client: answers each reply with a new message. Runs on that client's receive loop only.</summary>
    private sealed class Pinger(int size)
    {
        private readonly byte[] _payload = new byte[size];
        private volatile bool _running;
        private volatile bool _measuring;
        private long _replies;

        public LatencyHistogram Histogram { get; } = new();

        public long Replies => Volatile.Read(ref _replies);

        public void Start(Connection connection, int inflight)
        {
            _running = true;
            byte[] first = new byte[size];
            for (int i = 0; i < inflight; i++)
            {
                BinaryPrimitives.WriteInt64LittleEndian(first, Stopwatch.GetTimestamp());
                connection.Send(first);
            }
        }

        public void BeginMeasuring() => _measuring = true;

        public void Stop() => _running = false;

        public void OnMessage(Connection connection, ReadOnlySequence<byte> message)
        {
            if (_measuring && _running)
            {
                Span<byte> stamp = stackalloc byte[8];
                message.Slice(0, 8).CopyTo(stamp);
                Histogram.Record((long)Stopwatch.GetElapsedTime(BinaryPrimitives.ReadInt64LittleEndian(stamp)).TotalMicroseconds);
                Volatile.Write(ref _replies, _replies + 1);
            }

            if (_running)
            {
                BinaryPrimitives.WriteInt64LittleEndian(_payload, Stopwatch.GetTimestamp());
                connection.Send(_payload);
            }
        }
    }
}
