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
        console.MarkupLineInterpolated($"connecting {settings.Clients} clients to {server.EndPoint} …");
        (List<Pinger> pingers, int failures, double connectRate) = await BenchClients.ConnectAsync(
            server.EndPoint,
            settings.Clients,
            async (_, local, ct) => new Pinger(await BenchSocket.ConnectAsync(server, local, BenchClients.ConnectTimeout, ct), size, settings.Inflight),
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
                await pinger.StartAsync(cancellationToken);
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
                BenchCommand.Progress(console, $"echo {Stopwatch.GetElapsedTime(start).TotalSeconds:F0}/{settings.Duration.TotalSeconds:F0}s  {sofar / Stopwatch.GetElapsedTime(start).TotalSeconds:N0} msg/s", server);
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
                Server = BenchCommand.ServerStats(server),
            };
        }
        finally
        {
            await BenchClients.CloseAllAsync(pingers);
        }
    }

    /// <summary>One client: answers the replies of each read with as many new messages, in one send. Runs on its receive loop only.</summary>
    private sealed class Pinger(BenchLink link, int payloadSize, int inflight) : BenchSocket(link, payloadSize)
    {
        private readonly int _size = payloadSize;
        private readonly byte[] _outgoing = new byte[inflight * (4 + payloadSize)];
        private volatile bool _running;
        private volatile bool _measuring;
        private long _replies;
        private int _answers;

        public LatencyHistogram Histogram { get; } = new();

        public long Replies => Volatile.Read(ref _replies);

        public async Task StartAsync(CancellationToken cancellationToken)
        {
            _running = true;

            // The first batch goes out before the receive loop starts: its answers send from the
            // same buffer, and a TLS stream takes one write at a time.
            await SendAsync(Fill(inflight), cancellationToken);
            StartReceiving();
        }

        public void BeginMeasuring() => _measuring = true;

        public void Stop() => _running = false;

        protected override void OnFrame(ReadOnlySpan<byte> payload)
        {
            if (_measuring && _running && payload.Length >= 8)
            {
                Histogram.Record((long)Stopwatch.GetElapsedTime(BinaryPrimitives.ReadInt64LittleEndian(payload)).TotalMicroseconds);
                Volatile.Write(ref _replies, _replies + 1);
            }

            _answers++;
        }

        protected override async ValueTask OnReadCompletedAsync()
        {
            int answers = _answers;
            _answers = 0;
            if (_running && answers > 0)
            {
                await SendAsync(Fill(answers));
            }
        }

        private ReadOnlyMemory<byte> Fill(int count)
        {
            long now = Stopwatch.GetTimestamp();
            for (int i = 0; i < count; i++)
            {
                Span<byte> frame = _outgoing.AsSpan(i * (4 + _size), 4 + _size);
                WriteHeader(frame, _size);
                BinaryPrimitives.WriteInt64LittleEndian(frame[4..], now);
            }

            return _outgoing.AsMemory(0, count * (4 + _size));
        }
    }
}
