using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Parley.Bench;
using Spectre.Console;

namespace Parley.Cli.Bench;

/// <summary><c>parley bench broadcast|echo|connections</c>: the field's standard workloads, measured.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var command = new Command("bench", "Run a load workload against a Parley server (started here as a child process, or --target) and report throughput, latency and server memory.");
        command.Subcommands.Add(Workload("broadcast", "N clients each send one message per interval; the server broadcasts every message to all (the Miku workload).", defaultClients: 1000, defaultSize: 100, defaultDuration: 60));
        command.Subcommands.Add(Workload("echo", "C clients each keep M messages in flight; every reply is answered (NetCoreServer's echo methodology).", defaultClients: 1, defaultSize: 32, defaultDuration: 10));
        command.Subcommands.Add(Workload("connections", "N idle connections held open with keep-alives: connect rate and server memory per connection.", defaultClients: 1000, defaultSize: 0, defaultDuration: 10));
        command.Subcommands.Add(Chat());
        command.Subcommands.Add(Http());
        command.Subcommands.Add(UdpBenchCommand.Create());
        command.Subcommands.Add(IpcBenchCommand.Create());
        command.Subcommands.Add(AbuseBenchCommand.Create());
        return command;
    }

    private static Command Chat()
    {
        var profile = new Option<string>("--profile") { Description = "rust-readme: 48 users, 2 per room, --rate messages/s each. rust-stress: users ramp to half of --clients over a third of --duration, then to all; 5 rooms each, one message per 10 s. burst: --clients connect at once, each sends one message and waits for its ack.", DefaultValueFactory = _ => "rust-readme" };
        profile.AcceptOnlyFromAmong("rust-readme", "rust-stress", "burst");
        Option<int?> clients = new Option<int?>("--clients", "-c") { Description = "Users, 1 to 1000000 (default: 48 rust-readme, 2400 rust-stress, 1000 burst)." }
            .Range(1, CommonOptions.MaxConnectionCount, "");
        Option<double> rate = new Option<double>("--rate") { Description = "rust-readme: messages per second per user (more than 0, at most 1000000).", DefaultValueFactory = _ => 200 }
            .Positive(1_000_000, "messages/s");
        Option<double?> duration = new Option<double?>("--duration", "-d") { Description = "Seconds, more than 0 and at most 86400 (default: 30 rust-readme, 180 rust-stress)." }
            .Positive(CommonOptions.MaxSeconds, "seconds");
        Option<int> size = new Option<int>("--size", "-s") { Description = "Message content size in bytes, 1 to 1048576 (raised to the 40-byte stamp).", DefaultValueFactory = _ => 100 }
            .Range(1, 1024 * 1024, "bytes");
        Option<string> durability = ServeCommand.DurabilityOption();
        var target = new Option<string?>("--target") { Description = "host:port of a running parley serve instead of starting one." };
        target.Validators.Add(ValidateTarget);
        var targets = new Option<string?>("--targets")
        {
            Description = "host:port,host:port,… : the nodes of a cluster (parley serve --cluster), clients spread over them in turn (two users of a room on different nodes). " +
                "Checks that every client sees each room in one order with the same ids (order_violations, id_mismatches).",
        };
        targets.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string?>() is { } value)
            {
                string[] items = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                if (items.Length == 0 || items.Any(item => !ServerUnderTest.TryParseTarget(item, out _)))
                {
                    result.AddError($"--targets: '{value}' is not host:port,host:port,… with IP addresses or localhost.");
                }
            }
        });
        Option<int?> serverPid = ServerPid();
        var json = new Option<bool>("--json") { Description = "Print the result as JSON on standard output (progress goes to standard error)." };
        var tls = new Option<bool>("--tls") { Description = "Serve and connect with TLS (a throw-away certificate, pinned by the clients)." };
        var insecure = new Option<bool>("--insecure") { Description = "With --target and --tls: accept any server certificate." };
        Option<string> transport = TransportOption("the chat server's web port, /ws; with --target, ws://host:port/ws");
        var command = new Command("chat", "Load a 'parley serve' chat server (started here with a fresh data folder, or --target) with rust-chat-server's profiles or a connection burst.")
        {
            profile, clients, rate, duration, size, durability, target, targets, serverPid, json, tls, insecure, transport,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            string name = parse.GetValue(profile)!;
            var chat = new ChatBenchSettings(
                name,
                parse.GetValue(clients) ?? name switch { "rust-stress" => 2400, "burst" => 1000, _ => 48 },
                parse.GetValue(rate),
                TimeSpan.FromSeconds(parse.GetValue(duration) ?? (name == "rust-stress" ? 180 : 30)),
                Math.Max(parse.GetValue(size), 40));
            if (parse.GetValue(targets) is not null && (parse.GetValue(target) is not null || parse.GetValue(transport) != "tcp"))
            {
                await Console.Error.WriteLineAsync("parley bench: --targets takes neither --target nor --transport ws (the nodes' TCP ports).");
                return 2;
            }

            var settings = new BenchSettings(chat.Users, chat.Size, chat.Duration, TimeSpan.Zero, 0, parse.GetValue(targets) ?? parse.GetValue(target), parse.GetValue(serverPid), parse.GetValue(json))
            {
                Tls = parse.GetValue(tls),
                Insecure = parse.GetValue(insecure),
                WebSocket = parse.GetValue(transport) == "ws",
            };
            return await RunAsync("chat", settings, cancellationToken, chat, parse.GetValue(durability)!);
        });
        return command;
    }

    private static Command Http()
    {
        Option<int> connections = new Option<int>("--connections", "-c") { Description = "Keep-alive connections (1 to 100000).", DefaultValueFactory = _ => 60 }
            .Range(1, 100_000, "");
        Option<int> pipeline = new Option<int>("--pipeline") { Description = "Requests each connection sends at once before reading their responses (1 to 1024).", DefaultValueFactory = _ => 1 }
            .Range(1, 1024, "");
        var path = new Option<string>("--path") { Description = "The path to GET. The child server serves / (13 bytes) and /100k.bin (102 400 bytes).", DefaultValueFactory = _ => "/" };
        path.Validators.Add(result =>
        {
            string value = result.GetValueOrDefault<string>() ?? "";
            if (value.Length == 0 || value[0] != '/' || value.Any(c => c <= ' ' || c >= 0x7F))
            {
                result.AddError($"--path: '{value}' is not a path (it starts with '/' and holds no spaces or control characters).");
            }
        });
        Option<double> duration = new Option<double>("--duration", "-d") { Description = "Seconds of measurement (after a second of warm-up): more than 0, at most 86400.", DefaultValueFactory = _ => 10 }
            .Positive(CommonOptions.MaxSeconds, "seconds");
        var target = new Option<string?>("--target") { Description = "host:port of a running HTTP server (parley http, nginx, Kestrel…) instead of starting parley http." };
        target.Validators.Add(ValidateTarget);
        Option<int?> serverPid = ServerPid();
        var json = new Option<bool>("--json") { Description = "Print the result as JSON on standard output (progress goes to standard error)." };
        var command = new Command("http", "Keep-alive HTTP/1.1 load (wrk's methodology) against 'parley http' (started here over a 13-byte page and a 100 KB file) or any server (--target).")
        {
            connections, pipeline, path, duration, target, serverPid, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var http = new HttpBenchSettings(parse.GetValue(connections), parse.GetValue(pipeline), parse.GetValue(path)!, TimeSpan.FromSeconds(parse.GetValue(duration)));
            var settings = new BenchSettings(http.Connections, 0, http.Duration, TimeSpan.Zero, http.Pipeline, parse.GetValue(target), parse.GetValue(serverPid), parse.GetValue(json));
            return await RunAsync("http", settings, cancellationToken, http: http);
        });
        return command;
    }

    private static Command Workload(string name, string description, int defaultClients, int defaultSize, int defaultDuration)
    {
        Option<int> clients = new Option<int>("--clients", "-c") { Description = "Client connections (1 to 1000000).", DefaultValueFactory = _ => defaultClients }
            .Range(1, CommonOptions.MaxConnectionCount, "");
        Option<int> size = new Option<int>("--size", "-s") { Description = "Message size in bytes (payload), 0 to 1048576 (the echo server's default largest message); raised to the stamp (8 B echo, 16 B broadcast).", DefaultValueFactory = _ => defaultSize }
            .Range(0, LengthPrefixedFramer.DefaultMaxMessageSize, "bytes");
        Option<double> duration = new Option<double>("--duration", "-d") { Description = "Seconds of measurement (after ramp-up): more than 0, at most 86400.", DefaultValueFactory = _ => defaultDuration }
            .Positive(CommonOptions.MaxSeconds, "seconds");
        Option<int> interval = new Option<int>("--interval-ms") { Description = "broadcast: milliseconds between one client's messages (1 to 3600000).", DefaultValueFactory = _ => 1000 }
            .Range(1, 3_600_000, "ms");
        Option<int> inflight = new Option<int>("--inflight", "-m") { Description = "echo: messages each client keeps in flight (1 to 1000000; --inflight × --size at most 1 GiB).", DefaultValueFactory = _ => 1000 }
            .Range(1, 1_000_000, "");
        var target = new Option<string?>("--target") { Description = "host:port of a running server instead of starting one." };
        target.Validators.Add(ValidateTarget);
        Option<int?> serverPid = ServerPid();
        var json = new Option<bool>("--json") { Description = "Print the result as JSON on standard output (progress goes to standard error)." };
        var tls = new Option<bool>("--tls") { Description = "Serve and connect with TLS (the bench makes a throw-away certificate for its child server and pins it)." };
        Option<string?> compress = EchoCommand.CompressOption();
        var insecure = new Option<bool>("--insecure") { Description = "With --target and --tls: accept any server certificate (a self-signed development one)." };
        Option<string> transport = TransportOption("the echo server with --transport ws; with --target, a WebSocket server at ws://host:port/", signalR: name == "broadcast");
        var command = new Command(name, description) { clients, size, duration, interval, inflight, target, serverPid, json, tls, compress, insecure, transport };
        command.Validators.Add(result =>
        {
            // Each echo client keeps its in-flight messages in one buffer.
            if (name == "echo" && result.TryGetValue(inflight, out int messages) && result.TryGetValue(size, out int bytes)
                && (long)messages * (4 + Math.Max(8, bytes)) is var buffer && buffer > 1 << 30)
            {
                result.AddError(FormattableString.Invariant($"--inflight × --size: {buffer} bytes in flight per client is over 1073741824; lower one of them."));
            }
        });
        command.SetAction(async (parse, cancellationToken) =>
        {
            var settings = new BenchSettings(
                parse.GetValue(clients),
                parse.GetValue(size),
                TimeSpan.FromSeconds(parse.GetValue(duration)),
                TimeSpan.FromMilliseconds(parse.GetValue(interval)),
                parse.GetValue(inflight),
                parse.GetValue(target),
                parse.GetValue(serverPid),
                parse.GetValue(json))
            {
                Tls = parse.GetValue(tls),
                Compress = parse.GetValue(compress),
                Insecure = parse.GetValue(insecure),
                WebSocket = parse.GetValue(transport) is "ws" or "signalr",
                SignalR = parse.GetValue(transport) == "signalr",
            };
            if (settings.SignalR && settings.Target is null)
            {
                await Console.Error.WriteLineAsync("parley bench: --transport signalr needs --target (start bench/SignalRHub first).");
                return 2;
            }

            if (settings.WebSocket && settings.Compress is not null)
            {
                await Console.Error.WriteLineAsync("parley bench: --transport ws takes no --compress.");
                return 2;
            }

            return await RunAsync(name, settings, cancellationToken);
        });
        return command;
    }

    private static void ValidateTarget(System.CommandLine.Parsing.OptionResult result)
    {
        if (result.GetValueOrDefault<string?>() is { } value && !ServerUnderTest.TryParseTarget(value, out _))
        {
            result.AddError($"--target: '{value}' is not host:port with an IP address or localhost (for example 127.0.0.1:7000).");
        }
    }

    /// <summary>A port free a moment ago, for a child server's web port (it binds it right after).</summary>
    private static int FreePort()
    {
        using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        return ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
    }

    private static Option<string> TransportOption(string webSocket, bool signalR = false)
    {
        var option = new Option<string>("--transport")
        {
            Description = $"tcp: framed TCP. ws: WebSocket ({webSocket}).{(signalR ? " signalr: with --target, an ASP.NET Core SignalR hub at ws://host:port/hub whose Broadcast(string) sends to all (bench/SignalRHub), driven over WebSocket with the JSON protocol." : "")}",
            DefaultValueFactory = _ => "tcp",
        };
        option.AcceptOnlyFromAmong(signalR ? ["tcp", "ws", "signalr"] : ["tcp", "ws"]);
        return option;
    }

    private static Option<int?> ServerPid() =>
        new Option<int?>("--server-pid") { Description = "With --target: the server's process id, to sample its memory and CPU." }.Range(1, int.MaxValue, "");

    private static async Task<int> RunAsync(string workload, BenchSettings settings, CancellationToken cancellationToken, ChatBenchSettings? chat = null, string durability = "batch", HttpBenchSettings? http = null)
    {
        IAnsiConsole console = Terminal.Create(standardError: settings.Json);

        // Each client is one socket here and one in the server: ask for room for both, and say so when refused.
        long wanted = settings.Clients + 64L;
        long limit = FileLimits.Raise(wanted);
        if (limit >= 0 && limit < wanted)
        {
            console.MarkupLineInterpolated($"[red]open-files limit is {limit}, below the {wanted} this run needs; raise it (ulimit -n) or use fewer clients[/]");
            return 2;
        }

        string mode = workload == "broadcast" ? "broadcast" : "echo";
        int webPort = chat is not null && settings.WebSocket && settings.Target is null ? FreePort() : 0;
        TimeSpan cpuBefore = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
        long wallBefore = System.Diagnostics.Stopwatch.GetTimestamp();
        string? dataDirectory = chat is not null && settings.Target is null ? Path.Combine(Path.GetTempPath(), "parley-bench-" + Guid.NewGuid().ToString("N")) : null;
        string? site = http is not null && settings.Target is null ? HttpWorkload.CreateSite() : null;
        try
        {
            await using ServerUnderTest server = http is not null
                ? await ServerUnderTest.StartAsync(
                    ["http", "--root", site ?? "", "--port", "0", "--log-level", "Warning", "--max-connections", (settings.Clients + 100).ToString(CultureInfo.InvariantCulture)],
                    settings.Target,
                    settings.ServerPid,
                    tls: false,
                    cancellationToken)
                : chat is null
                ? await ServerUnderTest.StartAsync(
                    mode,
                    settings.Clients,
                    settings.Target,
                    settings.ServerPid,
                    settings.Tls,
                    settings.Compress,
                    settings.Compress is null ? null : EchoCommand.Compression(settings.Compress),
                    settings.Insecure,
                    WriteThrowAwayCertificateAsync,
                    cancellationToken,
                    settings.WebSocket)
                : await ServerUnderTest.StartAsync(
                    [
                        // A summary line a second (parsed for the memory's parts; other Information lines are dropped).
                        "serve", "--port", "0", "--web-port", webPort.ToString(CultureInfo.InvariantCulture), "--data", dataDirectory ?? "", "--durability", durability, "--log-level", "Information", "--summary-interval", "1",
                        "--max-connections", (settings.Clients + 100).ToString(CultureInfo.InvariantCulture),
                        "--max-connections-per-address", (settings.Clients + 100).ToString(CultureInfo.InvariantCulture),
                        "--max-handshakes-per-address", (settings.Clients + 100).ToString(CultureInfo.InvariantCulture),
                        "--max-commands-per-second", ((int)Math.Max(1000, chat.Rate * 4)).ToString(CultureInfo.InvariantCulture),
                    ],
                    settings.Target,
                    settings.ServerPid,
                    settings.Tls,
                    cancellationToken,
                    insecure: settings.Insecure,
                    writeCertificate: WriteThrowAwayCertificateAsync);
            if (settings.WebSocket)
            {
                // Clients open WebSocket connections: the echo server's own port, the chat server's web port.
                string scheme = settings.Tls ? "wss" : "ws";
                server.Chat = chat is not null;
                server.SignalR = settings.SignalR;
                server.WebSocket = chat is null
                    ? new Uri($"{scheme}://{server.EndPoint.Address}:{server.EndPoint.Port}/{(settings.SignalR ? "hub" : "")}")
                    : new Uri($"{scheme}://{server.EndPoint.Address}:{(webPort != 0 ? webPort : server.EndPoint.Port)}/ws");
            }

            BenchResult result;
            try
            {
                result = workload switch
                {
                    "chat" => await ChatWorkload.RunAsync(chat!, server, console, cancellationToken),
                    "http" => await HttpWorkload.RunAsync(http!, server, console, cancellationToken),
                    "broadcast" => await BroadcastWorkload.RunAsync(settings, server, console, cancellationToken),
                    "echo" => await EchoWorkload.RunAsync(settings, server, console, cancellationToken),
                    _ => await ConnectionsWorkload.RunAsync(settings, server, console, cancellationToken),
                };
            }
            catch (InvalidOperationException ex)
            {
                // Clients could not connect (refused, TLS rejected, …) or nothing came back: say so, no stack trace.
                Fail(console, ex.Message);
                return 1;
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException)
            {
                // A send failed: the server closed the connection under us (a refused handshake, an undecodable message).
                Fail(console, $"the server closed the connection ({ex.Message}): {server.Hint(workload)}");
                return 1;
            }

            if (result.Delivered == 0)
            {
                // A run in which nothing arrived measured nothing: an error, not "0 msg/s".
                Fail(console, server.NothingCameBack(workload));
                return 1;
            }

            double wall = System.Diagnostics.Stopwatch.GetElapsedTime(wallBefore).TotalSeconds;
            TimeSpan cpu = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
            result = result with { BenchCpuPct = Math.Round(100 * cpu.TotalSeconds / wall, 1) };

            Render(console, result);
            if (settings.Json)
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(result, BenchJsonContext.Default.BenchResult));
            }

            return 0;
        }
        finally
        {
            if (dataDirectory is not null && Directory.Exists(dataDirectory))
            {
                Directory.Delete(dataDirectory, recursive: true);
            }

            if (site is not null && Directory.Exists(site))
            {
                Directory.Delete(site, recursive: true);
            }
        }
    }

    /// <summary>The bench's <see cref="CertificateWriter"/>: a certificate for localhost and 127.0.0.1, valid for a day.</summary>
    private static async Task<string> WriteThrowAwayCertificateAsync(string path, CancellationToken cancellationToken)
    {
        using var certificate = CertCommand.SelfSigned(["localhost", "127.0.0.1"], days: 1);
        await CertCommand.WritePrivateAsync(path, certificate.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pkcs12), cancellationToken);
        return certificate.GetCertHashString();
    }

    /// <summary>Reports why the run failed, on a line of its own (after a live progress line on a terminal).</summary>
    private static void Fail(IAnsiConsole console, string message)
    {
        if (console.Profile.Capabilities.Interactive)
        {
            console.WriteLine();
        }

        console.MarkupLineInterpolated($"[red]parley bench: {message}[/]");
    }

    private static void Render(IAnsiConsole console, BenchResult result)
    {
        console.WriteLine();
        var table = new Table().Title($"parley bench {result.Workload}").AddColumn("measure").AddColumn(new TableColumn("value").RightAligned());
        void Row(string name, string value) => table.AddRow(name, value);
        Row("clients", result.Clients.ToString("N0", CultureInfo.InvariantCulture));
        Row("duration", $"{result.DurationS:F1} s");
        if (result.Workload == "http")
        {
            Row("path / pipeline", $"{result.Profile} / {result.Inflight}");
            Row("requests sent / answered", $"{result.Expected:N0} / {result.Delivered:N0}");
            Row("non-2xx responses", $"{result.Errors:N0}");
            Row("connections that failed", $"{result.Lost:N0}");
            Row("throughput", $"{result.MsgsPerS:N0} req/s, {result.MibPerS:F2} MiB/s (body {result.SizeBytes:N0} B)");
            Row("latency p50 / p90 / p99", $"{result.LatencyMs.P50:F2} / {result.LatencyMs.P90:F2} / {result.LatencyMs.P99:F2} ms");
            Row("latency p99.9 / max", $"{result.LatencyMs.P999:F2} / {result.LatencyMs.Max:F2} ms");
        }
        else if (result.Profile is not null)
        {
            Row("profile", result.Profile);
            Row("messages stored / s", $"{result.MsgsInPerS:N0}");
            Row("errors from the server", $"{result.Errors:N0}");
            if (result.TotalS is double total)
            {
                Row("all served after", $"{total * 1000:N0} ms");
            }
        }

        if (result.Workload == "http")
        {
            // Rows above.
        }
        else if (result.Workload != "connections")
        {
            Row("message size", $"{result.SizeBytes} B");
            Row("expected / delivered", $"{result.Expected:N0} / {result.Delivered:N0}");
            Row("lost / duplicated / reordered", $"{result.Lost:N0} / {result.Duplicated:N0} / {result.Reordered:N0}");
            Row("throughput", $"{result.MsgsPerS:N0} msg/s, {result.MibPerS:F2} MiB/s");
            Row("latency p50 / p90 / p99", $"{result.LatencyMs.P50:F2} / {result.LatencyMs.P90:F2} / {result.LatencyMs.P99:F2} ms");
            Row("latency p99.9 / max", $"{result.LatencyMs.P999:F2} / {result.LatencyMs.Max:F2} ms");
        }
        else
        {
            Row("open at the end", $"{result.Delivered:N0}");
            Row("connect failures / dropped", $"{result.ConnectFailures:N0} / {result.Lost - result.ConnectFailures:N0}");
            Row("server memory per connection", result.RssPerConnectionKb is double kb ? $"{kb:F1} KB" : "n/a");
        }

        Row("connect rate", $"{result.ConnectPerS:N0} /s");
        if (result.Server is { } server)
        {
            Row("server rss peak / avg", $"{server.PeakRssMb:F1} / {server.AvgRssMb:F1} MB");
            Row("server rss 1st / 2nd half", $"{server.RssFirstHalfMb:F1} / {server.RssSecondHalfMb:F1} MB");
            if (server.Memory is { } parts)
            {
                Row("server gc heap / history (peak)", $"{parts.GcHeapMb:F0} MB / {parts.HistoryKb / 1024:F1} MB");
                Row("server buffers in use / pooled (peak)", $"{parts.BuffersInUseKb / 1024:F1} / {parts.BuffersPooledKb / 1024:F1} MB");
            }

            Row("server cpu avg", $"{server.AvgCpuPct:F0} % (100 % = one core)");
        }

        Row("bench cpu avg (whole run)", $"{result.BenchCpuPct:F0} %");

        console.Write(table);
    }
}
