using System.Buffers;
using System.Diagnostics;
using Spectre.Console;

namespace Parley.Bench;

/// <summary>
/// N concurrent idle connections held open with keep-alives: connect rate, and the server's
/// memory per connection (RSS after ramp-up minus RSS before, over N).
/// </summary>
internal static class ConnectionsWorkload
{
    /// <summary>How long the probe's echo may take (an idle server answers in well under a millisecond).</summary>
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The probe: it starts with 0xFF, which no compression header is, so a compressing server
    /// the bench was not told about refuses it instead of echoing it.</summary>
    private static readonly byte[] Probe = [0xFF, .. "parley bench probe"u8];

    public static async Task<BenchResult> RunAsync(BenchSettings settings, ServerUnderTest server, IAnsiConsole console, CancellationToken cancellationToken)
    {
        // Let the freshly started server settle, then take its baseline.
        await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        double baseline = server.Sampler?.CurrentRssMb ?? 0;

        console.MarkupLineInterpolated($"connecting {settings.Clients} idle clients to {server.EndPoint} …");
        int dropped = 0;
        var answered = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        ParleyClient? prober = null;
        (List<ParleyClient> clients, int failures, double connectRate) = await BenchClients.ConnectAsync(
            server.EndPoint,
            settings.Clients,
            (_, local, ct) => BenchClients.ConnectParleyClientAsync(
                server,
                local,
                client =>
                {
                    client.Disconnected += _ =>
                    {
                        Interlocked.Increment(ref dropped);
                        if (ReferenceEquals(Volatile.Read(ref prober), client))
                        {
                            answered.TrySetResult(false);
                        }
                    };

                    // The echo (or a broadcast of it) must come back as it went: a garbled one is no answer.
                    client.MessageReceived += (_, message) => answered.TrySetResult(message.Length == Probe.Length && message.ToArray().AsSpan().SequenceEqual(Probe));
                },
                ct),
            console,
            cancellationToken);
        try
        {
            if (failures == settings.Clients)
            {
                throw BenchClients.ConnectFailed(failures, settings.Clients, server, "connections");
            }

            // Idle connections prove nothing until the server has answered once: a TLS server's
            // handshake or a compressing server's decoder would only now find out about a mismatch.
            Volatile.Write(ref prober, clients[0]);
            bool echoed = false;
            if (clients[0].Send(Probe) == SendStatus.Queued)
            {
                try
                {
                    echoed = await answered.Task.WaitAsync(ProbeTimeout, cancellationToken);
                }
                catch (TimeoutException)
                {
                    // Nothing came back in time: reported below.
                }
            }

            if (!echoed)
            {
                throw new InvalidOperationException(server.NothingCameBack("connections"));
            }

            server.Sampler?.Reset();
            long start = Stopwatch.GetTimestamp();
            while (Stopwatch.GetElapsedTime(start) < settings.Duration)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
                BenchReport.Progress(console, $"connections {clients.Count - dropped:N0} open  {Stopwatch.GetElapsedTime(start).TotalSeconds:F0}/{settings.Duration.TotalSeconds:F0}s", server);
            }

            ServerStats? stats = BenchReport.ServerStats(server);
            return new BenchResult
            {
                Workload = "connections",
                Clients = settings.Clients,
                DurationS = Math.Round(Stopwatch.GetElapsedTime(start).TotalSeconds, 2),
                Expected = settings.Clients,
                Delivered = clients.Count - dropped,
                Lost = failures + dropped,
                ConnectPerS = Math.Round(connectRate),
                ConnectFailures = failures,
                RssPerConnectionKb = stats is null || clients.Count == 0 ? null : Math.Round((stats.AvgRssMb - baseline) * 1024 / clients.Count, 2),
                LatencyMs = new LatencyMs(0, 0, 0, 0, 0),
                Server = stats,
            };
        }
        finally
        {
            await BenchClients.CloseAllAsync(clients);
        }
    }
}
