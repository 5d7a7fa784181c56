using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Parley.Bench;
using Spectre.Console;

namespace Parley.Cli.Bench;

/// <summary><c>parley bench abuse</c>: a chat server under every kind of abuse at once, and an honest client's view of it.</summary>
internal static class AbuseBenchCommand
{
    public static Command Create()
    {
        Option<double> duration = new Option<double>("--duration", "-d") { Description = "Seconds of abuse (more than 0, at most 3600).", DefaultValueFactory = _ => 60 }.Positive(3600, "seconds");
        Option<double> warmup = new Option<double>("--warmup") { Description = "Seconds of quiet first; the idle memory figure is taken at its end (more than 0, at most 3600).", DefaultValueFactory = _ => 10 }.Positive(3600, "seconds");
        Option<double> after = new Option<double>("--after") { Description = "Seconds of quiet after the abuse; the 'after' memory figure is taken at its end (more than 0, at most 3600).", DefaultValueFactory = _ => 60 }.Positive(3600, "seconds");
        Option<int> interval = new Option<int>("--interval-ms") { Description = "Milliseconds between the honest client's messages (1 to 10000).", DefaultValueFactory = _ => 20 }.Range(1, 10_000, "ms");
        var json = new Option<bool>("--json") { Description = "Print the result as JSON on standard output (progress goes to standard error)." };
        Option<int> historyHogs = new Option<int>("--history-hogs") { Description = "Logged-in attackers that post 4 KB messages and ask for the largest history pages (0 to 100); what they post is stored like any message.", DefaultValueFactory = _ => 4 }.Range(0, 100, "");
        Option<double> serverSummary = new Option<double>("--server-summary-interval") { Description = "Seconds between the server's summary lines (connections, memory, GC), shown on standard error (more than 0, at most 86400). Default: none.", DefaultValueFactory = _ => 86_400 }.Positive(CommonOptions.MaxSeconds, "seconds");
        var command = new Command(
            "abuse",
            "Start 'parley serve' (login required) and attack it from 127.0.0.3-10 with invalid UTF-8 floods, slow-loris and trickled lines, silent connections, " +
            "password spraying and huge history requests, all at once, while an honest client from 127.0.0.2 chats: its ack latency and the server's memory, before, during and after.")
        {
            duration, warmup, after, interval, historyHogs, json, serverSummary,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var settings = new AbuseSettings(
                TimeSpan.FromSeconds(parse.GetValue(warmup)),
                TimeSpan.FromSeconds(parse.GetValue(duration)),
                TimeSpan.FromSeconds(parse.GetValue(after)),
                TimeSpan.FromMilliseconds(parse.GetValue(interval)))
            {
                HistoryHogs = parse.GetValue(historyHogs),
            };
            return await RunAsync(settings, parse.GetValue(json), parse.GetValue(serverSummary), cancellationToken);
        });
        return command;
    }

    private static async Task<int> RunAsync(AbuseSettings settings, bool json, double serverSummarySeconds, CancellationToken cancellationToken)
    {
        IAnsiConsole console = Terminal.Create(standardError: json);
        FileLimits.Raise(4096);
        string data = Path.Combine(Path.GetTempPath(), "parley-abuse-" + Guid.NewGuid().ToString("N"));
        try
        {
            AbuseWorkload.CreateUsers(data);
            await using ServerUnderTest server = await ServerUnderTest.StartAsync(
                ["serve", "--port", "0", "--web-port", "0", "--data", data, "--auth", "required", "--log-level", serverSummarySeconds < CommonOptions.MaxSeconds ? "Information" : "Warning",
                    "--summary-interval", serverSummarySeconds.ToString(CultureInfo.InvariantCulture)],
                target: null,
                serverPid: null,
                tls: false,
                cancellationToken);
            var workload = new AbuseWorkload(server.EndPoint, settings, line => console.MarkupLineInterpolated($"[grey]{line}[/]"));
            AbuseResult result = await workload.RunAsync(server.Sampler, cancellationToken);
            Report(result, console, json);
            if (result.HonestDisconnected || result.Acknowledged == 0)
            {
                await Console.Error.WriteLineAsync("parley bench abuse: the honest client was cut off (or got no acknowledgement): the server did not keep serving it.");
                return 1;
            }

            return 0;
        }
        finally
        {
            try
            {
                Directory.Delete(data, recursive: true);
            }
            catch (IOException)
            {
                // Best effort: a temporary folder.
            }
        }
    }

    private static readonly JsonSerializerOptions s_indented = new() { WriteIndented = true };

    private static double Ms(long microseconds) => microseconds / 1000.0;

    private static void Report(AbuseResult r, IAnsiConsole console, bool json)
    {
        double afterVsIdle = r.IdleRssMb > 0 ? 100.0 * (r.AfterRssMb - r.IdleRssMb) / r.IdleRssMb : 0;
        if (json)
        {
            var document = new JsonObject // primitive values only: no reflection (native AOT)
            {
                ["quiet_p50_ms"] = Ms(r.Quiet.Percentile(50)),
                ["quiet_p99_ms"] = Ms(r.Quiet.Percentile(99)),
                ["abuse_p50_ms"] = Ms(r.UnderAbuse.Percentile(50)),
                ["abuse_p99_ms"] = Ms(r.UnderAbuse.Percentile(99)),
                ["abuse_max_ms"] = Ms(r.UnderAbuse.Max),
                ["after_p99_ms"] = Ms(r.After.Percentile(99)),
                ["sent"] = r.Sent,
                ["acknowledged"] = r.Acknowledged,
                ["honest_disconnected"] = r.HonestDisconnected,
                ["idle_rss_mb"] = Math.Round(r.IdleRssMb, 1),
                ["peak_rss_mb"] = Math.Round(r.PeakRssMb, 1),
                ["after_rss_mb"] = Math.Round(r.AfterRssMb, 1),
                ["after_vs_idle_percent"] = Math.Round(afterVsIdle, 1),
                ["attack_connections"] = r.AttackConnections,
                ["attack_connections_closed_by_server"] = r.AttackerClosures,
            };
            Console.WriteLine(document.ToJsonString(s_indented));
            return;
        }

        var table = new Table().AddColumn("").AddColumn(new TableColumn("quiet").RightAligned()).AddColumn(new TableColumn("under abuse").RightAligned()).AddColumn(new TableColumn("after").RightAligned());
        table.AddRow("honest ack p50 (ms)", F(Ms(r.Quiet.Percentile(50))), F(Ms(r.UnderAbuse.Percentile(50))), F(Ms(r.After.Percentile(50))));
        table.AddRow("honest ack p99 (ms)", F(Ms(r.Quiet.Percentile(99))), F(Ms(r.UnderAbuse.Percentile(99))), F(Ms(r.After.Percentile(99))));
        table.AddRow("honest ack max (ms)", F(Ms(r.Quiet.Max)), F(Ms(r.UnderAbuse.Max)), F(Ms(r.After.Max)));
        table.AddRow("server RSS (MB)", F(r.IdleRssMb), F(r.PeakRssMb) + " peak", F(r.AfterRssMb) + $" ({afterVsIdle:+0.0;-0.0} %)");
        console.Write(table);
        console.MarkupLineInterpolated($"honest messages: {r.Sent} sent, {r.Acknowledged} acknowledged{(r.HonestDisconnected ? ", DISCONNECTED" : string.Empty)}; attack connections: {r.AttackConnections}, closed by the server: {r.AttackerClosures}");
    }

    private static string F(double value) => value.ToString("0.0", CultureInfo.InvariantCulture);
}
