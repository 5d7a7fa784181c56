using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Parley.Bench;
using Parley.Udp;
using Spectre.Console;

namespace Parley.Cli.Bench;

/// <summary><c>parley bench udp</c>: the reliable-UDP workloads with injected loss and delay, and a load curve.</summary>
internal static class UdpBenchCommand
{
    public static Command Create()
    {
        var pattern = new Option<string>("--pattern", "-p")
        {
            Description = "req-resp: each session keeps --inflight requests in flight, echoed back. stream: the client sends as fast as the windows allow. bidi: both sides stream. n-to-1: --peers sessions each send --rate msgs/s to one server. n-to-n: the same, and the server relays every message to every session.",
            DefaultValueFactory = _ => "stream",
        };
        pattern.AcceptOnlyFromAmong("req-resp", "stream", "bidi", "n-to-1", "n-to-n");
        var peers = new Option<int?>("--peers", "-n") { Description = "Sessions (default 1; 1000 for n-to-1, 50 for n-to-n)." };
        var size = new Option<int>("--size", "-s") { Description = "Message size in bytes (at least 16: the stamp).", DefaultValueFactory = _ => 64 };
        var duration = new Option<double>("--duration", "-d") { Description = "Seconds per run.", DefaultValueFactory = _ => 10 };
        var rate = new Option<double?>("--rate") { Description = "Messages per second per session (default: unlimited for stream and bidi, 10 for n-to-1 and n-to-n)." };
        var rates = new Option<string?>("--rates") { Description = "A load curve: comma-separated total offered rates (messages/s); one run each, latency per rate." };
        var mode = new Option<string>("--mode") { Description = "ordered, unordered or unreliable.", DefaultValueFactory = _ => "ordered" };
        mode.AcceptOnlyFromAmong("ordered", "unordered", "unreliable");
        var inflight = new Option<int>("--inflight", "-m") { Description = "req-resp: requests each session keeps in flight.", DefaultValueFactory = _ => 1 };
        var loss = new Option<double>("--loss") { Description = "Percent of datagrams lost (each direction), injected in the socket layer.", DefaultValueFactory = _ => 0 };
        var delay = new Option<double>("--delay") { Description = "One-way delay added, milliseconds.", DefaultValueFactory = _ => 0 };
        var jitter = new Option<double>("--jitter") { Description = "Extra random delay up to this, milliseconds.", DefaultValueFactory = _ => 0 };
        var reorder = new Option<double>("--reorder") { Description = "Percent of datagrams held back by one jitter (reordered).", DefaultValueFactory = _ => 0 };
        var inline = new Option<bool>("--inline-events") { Description = "Both hosts raise events on their own threads (UdpHostOptions.UnsafePreferInlineScheduling) instead of the thread pool." };
        var offload = new Option<bool>("--offload") { Description = "Linux: send and receive runs of datagrams with one system call (UDP GSO/GRO); --offload false sends one at a time.", DefaultValueFactory = _ => true };
        var maxPacket = new Option<int>("--max-packet-size") { Description = "Largest datagram (path-MTU probing climbs to it). Default 1472 (Ethernet); loopback carries up to 65507.", DefaultValueFactory = _ => 1472 };
        var queue = new Option<int>("--queue") { Description = "Messages each session may have pending (queued, in flight or awaiting its delivered confirmation); the receive window follows. Default 65536 (the library's MaxPendingMessages) up to 4 sessions, else 1024.", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON on standard output (progress goes to standard error)." };
        // Bad numbers are parse errors with the rule, not a stack trace or a silent default.
        duration.Positive(CommonOptions.MaxSeconds, "seconds");
        peers.Range(1, 20_000, "");
        size.Range(1, 64 * 1024 * 1024, "bytes");
        rate.Range(0.0, 1e9, "messages/s (0: unlimited)");
        inflight.Range(1, 1_000_000, "");
        loss.Rule(value => value is >= 0 and < 100 ? null : "--loss: must be 0 or more and under 100 percent.");
        reorder.Range(0.0, 100, "percent");
        delay.Range(0.0, 60_000, "ms");
        jitter.Range(0.0, 60_000, "ms");
        maxPacket.Range(1200, 65507, "bytes");
        queue.Rule(value => value is >= 0 and <= 1 << 20 ? null : "--queue: must be 0 (the default) up to 1048576 messages.");
        var command = new Command("udp", "Reliable-UDP workloads in process on loopback (server and client hosts), with loss and delay injected at the socket.")
        {
            pattern, peers, size, duration, rate, rates, mode, inflight, loss, delay, jitter, reorder, maxPacket, queue, offload, inline, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            string name = parse.GetValue(pattern)!;
            int sessions = parse.GetValue(peers) ?? name switch { "n-to-1" => 1000, "n-to-n" => 50, _ => 1 };
            double perPeer = parse.GetValue(rate) ?? (name is "n-to-1" or "n-to-n" ? 10 : 0);
            var conditions = new NetworkConditions
            {
                Loss = parse.GetValue(loss) / 100,
                Delay = TimeSpan.FromMilliseconds(parse.GetValue(delay)),
                Jitter = TimeSpan.FromMilliseconds(parse.GetValue(jitter)),
                Reorder = parse.GetValue(reorder) / 100,
            };
            DeliveryMode deliveryMode = parse.GetValue(mode) switch { "unordered" => DeliveryMode.ReliableUnordered, "unreliable" => DeliveryMode.Unreliable, _ => DeliveryMode.ReliableOrdered };
            var settings = new UdpBenchSettings(name, sessions, Math.Max(parse.GetValue(size), UdpBenchSettings.StampSize), TimeSpan.FromSeconds(parse.GetValue(duration)), perPeer, deliveryMode, conditions, Math.Max(1, parse.GetValue(inflight)), parse.GetValue(maxPacket)) { Queue = parse.GetValue(queue), Offload = parse.GetValue(offload), InlineEvents = parse.GetValue(inline) };
            if ((long)sessions * settings.PendingPerSession > 1L << 25)
            {
                // The bench keeps a send-time slot per pending message and session.
                await Console.Error.WriteLineAsync("parley bench udp: --queue × --peers is over 33554432 pending messages; lower one of them.");
                return 2;
            }

            List<double> curve = [];
            if (parse.GetValue(rates) is { } list)
            {
                foreach (string item in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    if (!double.TryParse(item, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || value <= 0)
                    {
                        await Console.Error.WriteLineAsync($"parley bench udp: --rates: '{item}' is not a positive number.");
                        return 2;
                    }

                    curve.Add(value);
                }
            }

            return await RunAsync(settings, curve, parse.GetValue(json), cancellationToken);
        });
        return command;
    }

    private static async Task<int> RunAsync(UdpBenchSettings settings, List<double> curve, bool json, CancellationToken cancellationToken)
    {
        IAnsiConsole console = Terminal.Create(standardError: json);
        void Progress(string text) => console.MarkupLine($"[grey]{Markup.Escape(text)}[/]");
        UdpRunResult main;
        var points = new List<(double Offered, UdpRunResult Result)>();
        try
        {
            main = await new UdpWorkload(settings).RunAsync(Progress, cancellationToken);
            foreach (double total in curve)
            {
                Progress($"load curve: {total:0.#} msgs/s offered");
                UdpRunResult point = await new UdpWorkload(settings with { Rate = total / settings.Peers }).RunAsync(Progress, cancellationToken);
                points.Add((total, point));
            }
        }
        catch (UdpConnectException e)
        {
            // e.g. --loss 95: the handshake, lossy too, did not get through in time.
            await Console.Error.WriteLineAsync($"parley bench udp: {e.Message} (the injected loss applies to the handshake as well)");
            return 1;
        }

        JsonObject report = Report(settings, main, points);
        if (json)
        {
            await Console.Out.WriteLineAsync(report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }
        else
        {
            Render(console, settings, main, points);
        }

        return 0;
    }

    private static JsonObject Percentiles(LatencyHistogram h) => new()
    {
        ["p50"] = h.Percentile(50) / 1000.0,
        ["p90"] = h.Percentile(90) / 1000.0,
        ["p99"] = h.Percentile(99) / 1000.0,
        ["p999"] = h.Percentile(99.9) / 1000.0,
        ["max"] = h.Max / 1000.0,
        ["count"] = h.Count,
    };

    internal static JsonObject Report(UdpBenchSettings s, UdpRunResult r, List<(double Offered, UdpRunResult Result)> curve)
    {
        UdpStatistics c = r.Client, v = r.Server;
        long delayed = c.MessagesRetransmitted + v.MessagesRetransmitted;
        var report = new JsonObject
        {
            ["workload"] = "udp",
            ["pattern"] = s.Pattern,
            ["peers"] = s.Peers,
            ["size"] = s.Size,
            ["mode"] = s.Mode.ToString(),
            ["queue"] = s.Queue,
            ["offload"] = s.Offload,
            ["inline_events"] = s.InlineEvents,
            ["duration_s"] = Math.Round(r.Seconds, 3),
            ["conditions"] = new JsonObject
            {
                ["loss_percent"] = s.Conditions.Loss * 100,
                ["delay_ms"] = s.Conditions.Delay.TotalMilliseconds,
                ["jitter_ms"] = s.Conditions.Jitter.TotalMilliseconds,
                ["reorder_percent"] = s.Conditions.Reorder * 100,
            },
            ["sent"] = r.Sent,
            ["delivered"] = r.Delivered,
            ["lost"] = r.Lost,
            ["undelivered_at_end"] = r.Undelivered,
            ["duplicated"] = r.Duplicated,
            ["reordered"] = r.Reordered,
            ["msgs_per_s"] = Math.Round(r.Delivered / r.Seconds),
            ["mib_per_s"] = Math.Round(r.PayloadBytes / r.Seconds / (1024 * 1024), 2),
            ["payload_bytes_per_s"] = Math.Round(r.PayloadBytes / r.Seconds),
            ["packets_per_s"] = Math.Round((c.PacketsSent + v.PacketsSent) / r.Seconds),
            ["bytes_per_s"] = Math.Round((c.BytesSent + v.BytesSent) / r.Seconds),
            ["latency_ms"] = Percentiles(r.Delivery),
            ["confirmation_latency_ms"] = Percentiles(r.Confirmation),
            ["round_trip_ms"] = Percentiles(r.RoundTrip),
            ["retransmissions"] = c.Retransmissions + v.Retransmissions,
            ["messages_delayed"] = delayed,
            ["retransmissions_per_delayed_message"] = new JsonObject
            {
                ["max"] = Math.Max(c.MaxRetransmissionsPerMessage, v.MaxRetransmissionsPerMessage),
                ["avg"] = delayed == 0 ? 0 : Math.Round((double)(c.Retransmissions + v.Retransmissions) / delayed, 2),
            },
            ["packets_lost"] = c.PacketsLost + v.PacketsLost,
            ["rto_timeouts"] = c.Timeouts + v.Timeouts,
            ["packet_size"] = c.PacketSize,
            ["allocated_bytes_per_message"] = r.Sent == 0 ? 0 : Math.Round((double)r.AllocatedBytes / r.Sent, 2),
            ["gen0_collections"] = r.Gen0Collections,
        };
        if (curve.Count > 0)
        {
            var points = new JsonArray();
            foreach ((double offered, UdpRunResult point) in curve)
            {
                points.Add((JsonNode)new JsonObject // the node overload: no reflection (native AOT)
                {
                    ["offered_per_s"] = offered,
                    ["delivered_per_s"] = Math.Round(point.Delivered / point.Seconds),
                    ["lost"] = point.Lost,
                    ["latency_ms"] = Percentiles(point.Delivery),
                    ["confirmation_latency_ms"] = Percentiles(point.Confirmation),
                });
            }

            report["load_curve"] = points;
        }

        return report;
    }

    private static void Render(IAnsiConsole console, UdpBenchSettings s, UdpRunResult r, List<(double Offered, UdpRunResult Result)> curve)
    {
        JsonObject j = Report(s, r, curve);
        var table = new Table().Title($"parley bench udp --pattern {s.Pattern}").AddColumn("measure").AddColumn(new TableColumn("value").RightAligned());
        string Ms(JsonNode? p) => $"p50 {p!["p50"]} · p90 {p["p90"]} · p99 {p["p99"]} · p99.9 {p["p999"]} · max {p["max"]} ms";
        table.AddRow("sessions · size · mode", $"{s.Peers} · {s.Size} B · {s.Mode}");
        table.AddRow("network", $"loss {s.Conditions.Loss * 100:0.##} % · delay {s.Conditions.Delay.TotalMilliseconds} ms · jitter {s.Conditions.Jitter.TotalMilliseconds} ms · reorder {s.Conditions.Reorder * 100:0.##} %");
        table.AddRow("sent · delivered · lost", $"{r.Sent:N0} · {r.Delivered:N0} · {r.Lost:N0}{(r.Undelivered > 0 ? $" ({r.Undelivered:N0} still pending after 60 s)" : "")}");
        table.AddRow("duplicated · reordered", $"{r.Duplicated:N0} · {r.Reordered:N0}");
        table.AddRow("messages/s", $"{j["msgs_per_s"]:N0}");
        table.AddRow("payload MiB/s", $"{j["mib_per_s"]}");
        table.AddRow("packets/s · wire bytes/s", $"{j["packets_per_s"]} · {j["bytes_per_s"]}");
        table.AddRow("delivery latency", Ms(j["latency_ms"]));
        table.AddRow("confirmation latency", Ms(j["confirmation_latency_ms"]));
        if (s.Pattern == "req-resp")
        {
            table.AddRow("round trip", Ms(j["round_trip_ms"]));
        }

        table.AddRow("retransmissions · delayed messages", $"{j["retransmissions"]} · {j["messages_delayed"]} (max {j["retransmissions_per_delayed_message"]!["max"]}, avg {j["retransmissions_per_delayed_message"]!["avg"]} per message)");
        table.AddRow("allocated per message (whole process) · gen0 GCs", $"{j["allocated_bytes_per_message"]} B · {j["gen0_collections"]}");
        table.AddRow("packets lost · RTO timeouts · packet size", $"{j["packets_lost"]} · {j["rto_timeouts"]} · {j["packet_size"]}");
        console.Write(table);
        if (curve.Count > 0)
        {
            var points = new Table().Title("load curve").AddColumns("offered/s", "delivered/s", "lost", "p50 ms", "p99 ms", "confirm p99 ms");
            foreach (JsonNode? p in j["load_curve"]!.AsArray())
            {
                points.AddRow($"{p!["offered_per_s"]}", $"{p["delivered_per_s"]}", $"{p["lost"]}", $"{p["latency_ms"]!["p50"]}", $"{p["latency_ms"]!["p99"]}", $"{p["confirmation_latency_ms"]!["p99"]}");
            }

            console.Write(points);
        }
    }
}
