using System.Buffers.Binary;
using System.Diagnostics;
using Spectre.Console;

namespace Parley.Bench;

/// <summary>
/// Miku's workload: N clients each send one message per interval, and the server broadcasts
/// every message to all N. Each message carries its sender, a sequence number and a send
/// timestamp, so deliveries are counted exactly and latency is measured end to end.
/// </summary>
internal static class BroadcastWorkload
{
    private const int HeaderSize = 16; // sender i32, sequence i32, timestamp i64
    private const int ProbeSequence = -1;

    /// <summary>How long the first client waits for its own probe to come back (an idle server answers in well under a millisecond).</summary>
    private const long ProbeReplyTimeoutMs = 10_000;

    /// <summary>How long every client may take to see a probe (thousands register one by one).</summary>
    private const long ProbeAllTimeoutMs = 60_000;

    public static async Task<BenchResult> RunAsync(BenchSettings settings, ServerUnderTest server, IAnsiConsole console, CancellationToken cancellationToken)
    {
        int n = settings.Clients;
        int size = Math.Max(settings.Size, HeaderSize);
        console.MarkupLineInterpolated($"connecting {n} clients to {server.EndPoint} …");
        (List<Receiver> clients, int failures, double connectRate) = await BenchClients.ConnectAsync(
            server.EndPoint,
            n,
            async (_, local, ct) =>
            {
                var receiver = new Receiver(server, local, n);
                await receiver.ConnectAsync(ct);
                return receiver;
            },
            console,
            cancellationToken);
        if (failures > 0)
        {
            await BenchClients.CloseAllAsync(clients);
            throw BenchClients.ConnectFailed(failures, n, server, "broadcast");
        }

        Receiver[] receivers = [.. clients];

        try
        {
            // Every client must be registered on the server before counting starts: probe until all saw one.
            await ProbeAsync(clients[0], receivers, size, server, cancellationToken);
            server.Sampler?.Reset();

            var sent = new int[n];
            long started = Stopwatch.GetTimestamp();
            await SendPhaseAsync(settings, clients, sent, size, receivers, server, console, cancellationToken);
            double sendSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;

            long expected = sent.Sum(s => (long)s) * n;
            if (expected == 0)
            {
                throw new InvalidOperationException($"no message was sent: --duration {settings.Duration.TotalSeconds:0.###} s is shorter than one --interval-ms spread over --clients; run longer.");
            }

            await DrainAsync(receivers, expected, settings.Interval, cancellationToken);
            if (receivers.All(r => r.Closed))
            {
                throw new InvalidOperationException($"the server closed every connection: {server.Hint("broadcast")}");
            }

            var histogram = new LatencyHistogram();
            long delivered = 0, duplicated = 0, reordered = 0, lost = 0;
            foreach (Receiver receiver in receivers)
            {
                histogram.Add(receiver.Histogram);
                delivered += receiver.Delivered;
                duplicated += receiver.Duplicated;
                reordered += receiver.Reordered;
                lost += receiver.Lost(sent);
            }

            return new BenchResult
            {
                Workload = "broadcast",
                Clients = n,
                DurationS = Math.Round(sendSeconds, 2),
                SizeBytes = size,
                Expected = expected,
                Delivered = delivered,
                Lost = lost,
                Duplicated = duplicated,
                Reordered = reordered,
                MsgsPerS = Math.Round(delivered / sendSeconds),
                MibPerS = Math.Round(delivered * (double)size / sendSeconds / (1024 * 1024), 2),
                ConnectPerS = Math.Round(connectRate),
                LatencyMs = LatencyMs.From(histogram),
                Server = BenchReport.ServerStats(server),
            };
        }
        finally
        {
            await BenchClients.CloseAllAsync(clients);
        }
    }

    private static async Task ProbeAsync(Receiver prober, Receiver[] receivers, int size, ServerUnderTest server, CancellationToken cancellationToken)
    {
        byte[] probe = new byte[size];

        // Sender -1: the payload starts with 0xFF, which no compression header is, so a compressing
        // server the bench was not told about refuses the probe at once instead of echoing it.
        BinaryPrimitives.WriteInt32LittleEndian(probe, -1);
        BinaryPrimitives.WriteInt32LittleEndian(probe.AsSpan(4), ProbeSequence);
        long started = Environment.TickCount64;
        while (receivers.Any(r => !r.SawProbe))
        {
            long waited = Environment.TickCount64 - started;
            if (prober.Closed || (!prober.SawProbe && waited > ProbeReplyTimeoutMs))
            {
                throw new InvalidOperationException(server.NothingCameBack("broadcast"));
            }

            if (waited > ProbeAllTimeoutMs)
            {
                throw new InvalidOperationException(
                    $"{receivers.Count(r => !r.SawProbe)} of {receivers.Length} clients saw no broadcast within {ProbeAllTimeoutMs / 1000} s: is the server in --mode broadcast?");
            }

            if (prober.Send(probe) == SendStatus.Closed)
            {
                // The server closed the prober for its probe (a compressing server refuses it) before
                // the receive side saw the close: the same answer as seeing it closed.
                throw new InvalidOperationException(server.NothingCameBack("broadcast"));
            }

            await Task.Delay(100, cancellationToken);
        }

        foreach (Receiver receiver in receivers)
        {
            receiver.Measuring = true;
        }
    }

    private static async Task SendPhaseAsync(
        BenchSettings settings, List<Receiver> clients, int[] sent, int size, Receiver[] receivers, ServerUnderTest server, IAnsiConsole console, CancellationToken cancellationToken)
    {
        int n = clients.Count;
        byte[] message = new byte[size];
        long intervalTicks = (long)(settings.Interval.TotalSeconds * Stopwatch.Frequency);
        long durationTicks = (long)(settings.Duration.TotalSeconds * Stopwatch.Frequency);
        long start = Stopwatch.GetTimestamp();
        long nextSlot = 0;
        long lastReport = start;
        while (true)
        {
            long elapsed = Stopwatch.GetTimestamp() - start;
            if (elapsed >= durationTicks)
            {
                break;
            }

            // Slot s belongs to client s % n in round s / n: every client once per interval, spread evenly.
            long due = (long)((double)elapsed / intervalTicks * n);
            for (; nextSlot < due; nextSlot++)
            {
                int client = (int)(nextSlot % n);
                BinaryPrimitives.WriteInt32LittleEndian(message, client);
                BinaryPrimitives.WriteInt32LittleEndian(message.AsSpan(4), sent[client]);
                BinaryPrimitives.WriteInt64LittleEndian(message.AsSpan(8), Stopwatch.GetTimestamp());
                if (!clients[client].Closed && clients[client].Send(message) == SendStatus.Queued)
                {
                    sent[client]++;
                }
            }

            if (Stopwatch.GetTimestamp() - lastReport > Stopwatch.Frequency)
            {
                lastReport = Stopwatch.GetTimestamp();
                long delivered = receivers.Sum(r => r.Delivered);
                BenchReport.Progress(console, $"broadcast {Stopwatch.GetElapsedTime(start).TotalSeconds:F0}/{settings.Duration.TotalSeconds:F0}s  sent {nextSlot:N0}  delivered {delivered:N0}", server);
            }

            await Task.Delay(1, cancellationToken);
        }
    }

    private static async Task DrainAsync(Receiver[] receivers, long expected, TimeSpan interval, CancellationToken cancellationToken)
    {
        long deadline = Environment.TickCount64 + 5000 + (long)interval.TotalMilliseconds;
        while (receivers.Sum(r => r.Delivered) < expected && Environment.TickCount64 < deadline)
        {
            await Task.Delay(50, cancellationToken);
        }
    }

    /// <summary>One client: sends from the pacing loop, counts what arrives on its receive loop.</summary>
    private sealed class Receiver(ServerUnderTest server, System.Net.IPEndPoint? local, int senders) : BenchConnection(server, local)
    {
        private readonly SequenceTracker[] _trackers = new SequenceTracker[senders];

        public LatencyHistogram Histogram { get; } = new();

        public volatile bool SawProbe;

        public volatile bool Measuring;

        private long _delivered;

        public long Delivered => Volatile.Read(ref _delivered);

        public long Duplicated { get; private set; }

        public long Reordered { get; private set; }

        protected override void OnFrame(ReadOnlySpan<byte> header)
        {
            if (header.Length < HeaderSize)
            {
                return;
            }

            int sender = BinaryPrimitives.ReadInt32LittleEndian(header);
            int sequence = BinaryPrimitives.ReadInt32LittleEndian(header[4..]);
            if (sequence == ProbeSequence)
            {
                SawProbe = true;
                return;
            }

            if (!Measuring || (uint)sender >= (uint)_trackers.Length)
            {
                return;
            }

            long sentAt = BinaryPrimitives.ReadInt64LittleEndian(header[8..]);
            Histogram.Record((long)Stopwatch.GetElapsedTime(sentAt).TotalMicroseconds);
            Volatile.Write(ref _delivered, _delivered + 1);
            switch (_trackers[sender].Record(sequence))
            {
                case Arrival.Duplicate:
                    Duplicated++;
                    break;
                case Arrival.Reordered:
                    Reordered++;
                    break;
                default:
                    break;
            }
        }

        public long Lost(int[] sent)
        {
            long lost = 0;
            for (int i = 0; i < _trackers.Length; i++)
            {
                lost += _trackers[i].Lost(sent[i]);
            }

            return lost;
        }
    }
}
