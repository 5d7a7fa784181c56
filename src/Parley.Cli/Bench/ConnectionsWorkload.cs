using System.Diagnostics;
using Spectre.Console;

namespace Parley.Cli.Bench;

/// <summary>
/// N concurrent idle connections held open with keep-alives: connect rate, and the server's
/// memory per connection (RSS after ramp-up minus RSS before, over N).
/// </summary>
internal static class ConnectionsWorkload
{
    public static async Task<BenchResult> RunAsync(BenchSettings settings, ServerUnderTest server, IAnsiConsole console, CancellationToken cancellationToken)
    {
        // Let the freshly started server settle, then take its baseline.
        await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        double baseline = server.Sampler?.CurrentRssMb ?? 0;

        console.MarkupLineInterpolated($"connecting {settings.Clients} idle clients to {server.EndPoint} …");
        int dropped = 0;
        (List<ParleyClient> clients, int failures, double connectRate) = await BenchClients.ConnectAsync(
            server.EndPoint,
            settings.Clients,
            (_, local, ct) => BenchClients.ConnectParleyClientAsync(server, local, client => client.Disconnected += _ => Interlocked.Increment(ref dropped), ct),
            console,
            cancellationToken);
        try
        {
            server.Sampler?.Reset();
            long start = Stopwatch.GetTimestamp();
            while (Stopwatch.GetElapsedTime(start) < settings.Duration)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
                BenchCommand.Progress(console, $"connections {clients.Count - dropped:N0} open  {Stopwatch.GetElapsedTime(start).TotalSeconds:F0}/{settings.Duration.TotalSeconds:F0}s", server);
            }

            ServerStats? stats = BenchCommand.ServerStats(server);
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
