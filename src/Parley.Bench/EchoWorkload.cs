using System.Buffers.Binary;
using System.Diagnostics;
using Spectre.Console;

namespace Parley.Bench;

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
        console.MarkupLineInterpolated($"connecting {settings.Clients} clients to {server.EndPoint} …");
        (List<Pinger> pingers, int failures, double connectRate) = await BenchClients.ConnectAsync(
            server.EndPoint,
            settings.Clients,
            async (_, local, ct) =>
            {
                var pinger = new Pinger(server, local, size);
                await pinger.ConnectAsync(ct);
                return pinger;
            },
            console,
            cancellationToken);
        if (failures > 0)
        {
            await BenchClients.CloseAllAsync(pingers);
            throw BenchClients.ConnectFailed(failures, settings.Clients, server, "echo");
        }

        try
        {
            foreach (Pinger pinger in pingers)
            {
                pinger.Start(settings.Inflight);
            }

            await Task.Delay(Warmup, cancellationToken);
            server.Sampler?.Reset();
            foreach (Pinger pinger in pingers)
            {
                pinger.BeginMeasuring();
            }

            long start = Stopwatch.GetTimestamp();
            while (Stopwatch.GetElapsedTime(start) < settings.Duration && !pingers.All(p => p.Closed))
            {
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
                long sofar = pingers.Sum(p => p.Replies);
                BenchReport.Progress(console, $"echo {Stopwatch.GetElapsedTime(start).TotalSeconds:F0}/{settings.Duration.TotalSeconds:F0}s  {sofar / Stopwatch.GetElapsedTime(start).TotalSeconds:N0} msg/s", server);
            }

            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            long replies = pingers.Sum(p => p.Replies);
            if (pingers.All(p => p.Closed))
            {
                // A TLS server's failed handshake, or a compressing server's undecodable message, ends every connection.
                throw new InvalidOperationException(replies == 0 ? server.NothingCameBack("echo") : $"the server closed every connection after {replies} replies: {server.Hint("echo")}");
            }
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
                Server = BenchReport.ServerStats(server),
            };
        }
        finally
        {
            await BenchClients.CloseAllAsync(pingers);
        }
    }

    /// <summary>One client: answers each reply with a new message. Answers run on its receive loop only;
    /// the send queue merges those of one read into one write.</summary>
    private sealed class Pinger(ServerUnderTest server, System.Net.IPEndPoint? local, int size) : BenchConnection(server, local)
    {
        private readonly byte[] _payload = new byte[size];
        private volatile bool _running;
        private volatile bool _measuring;
        private long _replies;

        public LatencyHistogram Histogram { get; } = new();

        public long Replies => Volatile.Read(ref _replies);

        public void Start(int inflight)
        {
            _running = true;

            // Its own buffer: replies to the first messages may be answered from _payload already.
            byte[] first = new byte[size];
            for (int i = 0; i < inflight; i++)
            {
                BinaryPrimitives.WriteInt64LittleEndian(first, Stopwatch.GetTimestamp());
                Send(first);
            }
        }

        public void BeginMeasuring() => _measuring = true;

        public void Stop() => _running = false;

        protected override void OnFrame(ReadOnlySpan<byte> payload)
        {
            // One clock read per reply: it ends this round trip and starts the next. (A clock
            // read costs about as much as the rest of the client's work for a 32 B message.)
            long now = Stopwatch.GetTimestamp();
            if (_measuring && _running && payload.Length >= 8)
            {
                long sentAt = BinaryPrimitives.ReadInt64LittleEndian(payload);
                Histogram.Record((now - sentAt) * 1_000_000 / Stopwatch.Frequency);
                Volatile.Write(ref _replies, _replies + 1);
            }

            if (_running)
            {
                BinaryPrimitives.WriteInt64LittleEndian(_payload, now);
                Send(_payload);
            }
        }
    }
}
