using System.CommandLine;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using Parley.Ipc;
using Parley.Bench;
using Spectre.Console;

namespace Parley.Cli.Bench;

/// <summary>
/// <c>parley bench ipc</c>: shared-memory ping-pong and streaming between this process and a
/// child <c>parley</c> process, and with <c>--compare</c> the same ping-pong over TCP loopback
/// and a Unix domain socket.
/// </summary>
internal static class IpcBenchCommand
{
    /// <summary>The hardware limit quoted in the issue: C spinning on a shared cache line on this kind of 2-core machine.</summary>
    private const double CLimitNanoseconds = 470;

    public static Command Create()
    {
        var pattern = new Option<string>("--pattern", "-p")
        {
            Description = "pingpong: one message there and back at a time. stream: one-way, as fast as the ring takes them (both on a raw IpcChannel). " +
                "connection: a ParleyClient and a 'parley echo --transport ipc' child, --inflight messages in flight (the Connection API, default waits; --compare adds TCP).",
            DefaultValueFactory = _ => "pingpong",
        };
        pattern.AcceptOnlyFromAmong("pingpong", "stream", "connection");
        var inflight = new Option<int>("--inflight", "-m") { Description = "connection: messages kept in flight.", DefaultValueFactory = _ => 100 };
        var size = new Option<int>("--size", "-s") { Description = "Message size in bytes, 1 to 67108864 (raised to 8: a sequence number).", DefaultValueFactory = _ => 16 };
        var duration = new Option<double>("--duration", "-d") { Description = "Seconds to measure.", DefaultValueFactory = _ => 5 };
        var wait = new Option<string>("--wait") { Description = "How both sides wait: spin, yield (spin 50 µs, then yield the core between polls), hybrid (spin 50 µs, then sleep) or block (sleep at once).", DefaultValueFactory = _ => "spin" };
        wait.AcceptOnlyFromAmong("spin", "yield", "hybrid", "block");
        var compare = new Option<bool>("--compare") { Description = "Also run the ping-pong over TCP loopback and a Unix domain socket (blocking sockets, one message at a time)." };
        var ring = new Option<int>("--ring") { Description = "Ring capacity in bytes per direction (power of two).", DefaultValueFactory = _ => 1 << 20 };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON on standard output (progress goes to standard error)." };
        var child = new Option<string?>("--child") { Description = "Internal: run as the peer process (ipc:NAME, tcp:PORT or uds:PATH).", Hidden = true };
        var command = new Command("ipc", "Shared-memory ping-pong and streaming between two processes; --compare adds TCP loopback and a Unix domain socket.")
        {
            pattern, size, duration, wait, compare, ring, inflight, json, child,
        };

        // Bad numbers are parse errors with the rule, not stack traces from inside the run.
        duration.Positive(CommonOptions.MaxSeconds, "seconds");
        inflight.Range(1, 1_000_000, "");
        size.Range(1, 64 * 1024 * 1024, "bytes");
        ring.Rule(bytes => bytes is >= 4096 and <= 1 << 30 && System.Numerics.BitOperations.IsPow2(bytes)
            ? null
            : $"--ring: {bytes} is not a power of two from 4096 to 1073741824 bytes.");
        command.SetAction(async (parse, cancellationToken) =>
        {
            var settings = new IpcBenchSettings(
                parse.GetValue(pattern)!,
                Math.Max(8, parse.GetValue(size)),
                TimeSpan.FromSeconds(parse.GetValue(duration)),
                parse.GetValue(wait) switch { "hybrid" => IpcWaitStrategy.Hybrid, "block" => IpcWaitStrategy.Block, "yield" => IpcWaitStrategy.Yield, _ => IpcWaitStrategy.Spin },
                parse.GetValue(ring));
            if (settings.Pattern != "connection" && settings.Size > settings.Ring / 2 - 8)
            {
                await Console.Error.WriteLineAsync($"parley bench ipc: --size {settings.Size} does not fit a {settings.Ring}-byte ring (at most {settings.Ring / 2 - 8} bytes); raise --ring.");
                return 2;
            }

            if (parse.GetValue(child) is { } peer)
            {
                return await IpcBenchPeer.RunAsync(peer, settings);
            }

            if (settings.Pattern == "connection")
            {
                return await RunConnectionAsync(settings, parse.GetValue(inflight), parse.GetValue(compare), parse.GetValue(json), cancellationToken);
            }

            return await RunAsync(settings, parse.GetValue(compare), parse.GetValue(json), cancellationToken);
        });
        return command;
    }

    private static async Task<int> RunConnectionAsync(IpcBenchSettings s, int inflight, bool compare, bool json, CancellationToken cancellationToken)
    {
        IAnsiConsole console = OutputConsole(json);
        console.MarkupLine($"[grey]{Markup.Escape($"connection over shared memory, {s.Size} B, {inflight} in flight: {s.Duration.TotalSeconds:0.#} s")}[/]");
        var report = new JsonObject { ["workload"] = "ipc", ["pattern"] = "connection", ["size"] = s.Size, ["duration_s"] = s.Duration.TotalSeconds };
        foreach ((string key, JsonNode? value) in await IpcConnectionBench.RunAsync("ipc", s, inflight, cancellationToken))
        {
            report[key] = value?.DeepClone();
        }

        if (compare)
        {
            console.MarkupLine($"[grey]{Markup.Escape($"connection over tcp, {s.Size} B, {inflight} in flight: {s.Duration.TotalSeconds:0.#} s")}[/]");
            report["compare"] = new JsonArray(await IpcConnectionBench.RunAsync("tcp", s, inflight, cancellationToken));
        }

        await PrintAsync(console, report, json);
        return 0;
    }

    private static IAnsiConsole OutputConsole(bool json) =>
        Terminal.Create(standardError: json);

    private static async Task PrintAsync(IAnsiConsole console, JsonObject report, bool json)
    {
        if (json)
        {
            await Console.Out.WriteLineAsync(report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }
        else
        {
            Render(console, report);
        }
    }

    private static async Task<int> RunAsync(IpcBenchSettings s, bool compare, bool json, CancellationToken cancellationToken)
    {
        IAnsiConsole console = OutputConsole(json);
        void Progress(string text) => console.MarkupLine($"[grey]{Markup.Escape(text)}[/]");

        string name = $"bench-{Environment.ProcessId}";
        var options = new IpcOptions { WaitStrategy = s.Wait, RingCapacity = s.Ring };
        using IpcListener listener = IpcListener.Listen(name, options);
        using Process peer = StartPeer($"ipc:{name}", s);
        IpcChannel channel = await listener.AcceptAsync(cancellationToken).WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
        Progress($"{s.Pattern} over shared memory, {s.Size} B, wait {s.Wait.ToString().ToLowerInvariant()}: {s.Duration.TotalSeconds:0.#} s");
        var report = new JsonObject
        {
            ["workload"] = "ipc",
            ["pattern"] = s.Pattern,
            ["size"] = s.Size,
            ["wait"] = s.Wait.ToString().ToLowerInvariant(),
            ["ring_bytes"] = s.Ring,
            ["duration_s"] = s.Duration.TotalSeconds,
        };
        using (channel)
        {
            var cpu = new CpuMeter(peer);
            if (s.Pattern == "pingpong")
            {
                PingPong(channel.Write, Reader(channel), s.Size, TimeSpan.FromMilliseconds(500), out _, out _); // warm-up: JIT, page faults
                cpu.Start();
                double seconds = PingPong(channel.Write, Reader(channel), s.Size, s.Duration, out long trips, out LatencyHistogram latency);
                report["round_trips_per_s"] = Math.Round(trips / seconds);
                report["ns_per_round_trip"] = Math.Round(seconds * 1e9 / trips, 1);
                report["c_limit_ns_per_round_trip"] = CLimitNanoseconds;
                report["percent_of_c_limit"] = Math.Round(CLimitNanoseconds / (seconds * 1e9 / trips) * 100, 1);
                report["latency_ns"] = latency.ToJson();
                report["cpu_percent"] = cpu.Stop(seconds);
                if (s.Wait is IpcWaitStrategy.Hybrid or IpcWaitStrategy.Block) // the ones that sleep when idle
                {
                    report["idle_cpu_percent"] = await IdleCpuAsync(peer, cancellationToken);
                    report["wakeup_round_trip_us"] = WakeUpRoundTrips(channel, s.Size);
                }
            }
            else
            {
                cpu.Start();
                (double seconds, long sent) = Stream(channel, s);
                report["cpu_percent"] = cpu.Stop(seconds);
                channel.Dispose(); // the peer reads to the end, then reports what it saw
                JsonObject seen = await PeerReportAsync(peer, cancellationToken);
                report["sent"] = sent;
                report["received"] = seen["received"]?.DeepClone();
                report["in_order"] = seen["in_order"]?.DeepClone();
                report["msgs_per_s"] = Math.Round(sent / seconds);
                report["mib_per_s"] = Math.Round(sent * (double)s.Size / seconds / (1024 * 1024), 1);
                report["ns_per_message"] = Math.Round(seconds * 1e9 / sent, 1);
            }

            IpcStatistics statistics = channel.GetStatistics();
            report["sleeps"] = statistics.Sleeps;
            report["wakeups_sent"] = statistics.WakeupsSent;
        }

        await WaitForExitAsync(peer, cancellationToken);
        if (compare)
        {
            var others = new JsonArray();
            foreach (string transport in new[] { "tcp", "uds" })
            {
                Progress($"pingpong over {transport}, {s.Size} B: {s.Duration.TotalSeconds:0.#} s");
                others.Add((JsonNode)await SocketPingPongAsync(transport, s, cancellationToken)); // the node overload: no reflection (native AOT)
            }

            report["compare"] = others;
        }

        await PrintAsync(console, report, json);
        return 0;
    }

    private delegate void ReadExactly(Span<byte> destination);

    private static ReadExactly Reader(IpcChannel channel) => destination =>
    {
        if (!channel.Read(out ReadOnlySpan<byte> message))
        {
            throw new IpcException("The bench peer closed early.");
        }

        message.CopyTo(destination);
    };

    private delegate void WriteAll(ReadOnlySpan<byte> source);

    /// <summary>One message there and back at a time; every 16th round trip is timed on its own.</summary>
    private static double PingPong(WriteAll write, ReadExactly read, int size, TimeSpan duration, out long trips, out LatencyHistogram latency)
    {
        byte[] message = new byte[size];
        byte[] reply = new byte[size];
        latency = new LatencyHistogram();
        long start = Stopwatch.GetTimestamp();
        long end = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        long count = 0;
        while (true)
        {
            for (int i = 0; i < 16; i++, count++)
            {
                BitConverter.TryWriteBytes(message, count);
                write(message);
                read(reply);
                if (BitConverter.ToInt64(reply) != count)
                {
                    throw new InvalidDataException($"round trip {count} came back as {BitConverter.ToInt64(reply)}");
                }
            }

            long before = Stopwatch.GetTimestamp();
            BitConverter.TryWriteBytes(message, count);
            write(message);
            read(reply);
            long after = Stopwatch.GetTimestamp();
            count++;
            latency.Record((long)((after - before) * 1e9 / Stopwatch.Frequency));
            if (after >= end)
            {
                trips = count;
                return (after - start) / (double)Stopwatch.Frequency;
            }
        }
    }

    /// <summary>Writes numbered messages as fast as the ring takes them.</summary>
    private static (double Seconds, long Sent) Stream(IpcChannel channel, IpcBenchSettings s)
    {
        byte[] message = new byte[s.Size];
        long start = Stopwatch.GetTimestamp();
        long end = start + (long)(s.Duration.TotalSeconds * Stopwatch.Frequency);
        long sent = 0;
        while (true)
        {
            for (int i = 0; i < 1024; i++, sent++)
            {
                BitConverter.TryWriteBytes(message, sent);
                channel.Write(message);
            }

            long now = Stopwatch.GetTimestamp();
            if (now >= end)
            {
                return ((now - start) / (double)Stopwatch.Frequency, sent);
            }
        }
    }

    /// <summary>
    /// Both sides idle for two seconds, each asleep in its futex: CPU used meanwhile. Measured
    /// after half a second of quiet, so the runtime's own work after the busy run (tiered
    /// recompilation, a collection) is not counted as the transport's idle cost.
    /// </summary>
    private static async Task<JsonObject> IdleCpuAsync(Process peer, CancellationToken cancellationToken)
    {
        await Task.Delay(500, cancellationToken);
        var cpu = new CpuMeter(peer);
        cpu.Start();
        long start = Stopwatch.GetTimestamp();
        await Task.Delay(2000, cancellationToken);
        return cpu.Stop(Stopwatch.GetElapsedTime(start).TotalSeconds);
    }

    /// <summary>
    /// Round trips that start with the peer asleep (2 ms of silence before each): a futex
    /// wake-up of the peer plus its reply; this side spins for the answer.
    /// </summary>
    private static JsonObject WakeUpRoundTrips(IpcChannel channel, int size)
    {
        byte[] message = new byte[size];
        var latency = new LatencyHistogram();
        for (long i = 0; i < 200; i++)
        {
            Thread.Sleep(2);
            BitConverter.TryWriteBytes(message, i);
            long before = Stopwatch.GetTimestamp();
            channel.Write(message);
            ReadOnlySpan<byte> reply;
            while (!channel.TryRead(out reply))
            {
                Thread.SpinWait(1);
            }

            latency.Record((long)((Stopwatch.GetTimestamp() - before) * 1e6 / Stopwatch.Frequency));
        }

        return latency.ToJson();
    }

    private static async Task<JsonObject> SocketPingPongAsync(string transport, IpcBenchSettings s, CancellationToken cancellationToken)
    {
        string path = Path.Combine(Path.GetTempPath(), $"parley-bench-{Environment.ProcessId}.sock");
        using var listener = transport == "tcp"
            ? new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)
            : new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        File.Delete(path);
        listener.Bind(transport == "tcp" ? new IPEndPoint(IPAddress.Loopback, 0) : new UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        string address = transport == "tcp" ? $"tcp:{((IPEndPoint)listener.LocalEndPoint!).Port}" : $"uds:{path}";
        using Process peer = StartPeer(address, s);
        using Socket socket = await listener.AcceptAsync(cancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
        if (transport == "tcp")
        {
            socket.NoDelay = true;
        }

        void Write(ReadOnlySpan<byte> bytes) => socket.Send(bytes);
        void Read(Span<byte> destination)
        {
            for (int got = 0; got < destination.Length;)
            {
                int read = socket.Receive(destination[got..]);
                got += read > 0 ? read : throw new IOException("The bench peer closed early.");
            }
        }

        PingPong(Write, Read, s.Size, TimeSpan.FromMilliseconds(500), out _, out _);
        var cpu = new CpuMeter(peer);
        cpu.Start();
        double seconds = PingPong(Write, Read, s.Size, s.Duration, out long trips, out LatencyHistogram latency);
        var result = new JsonObject
        {
            ["transport"] = transport,
            ["round_trips_per_s"] = Math.Round(trips / seconds),
            ["ns_per_round_trip"] = Math.Round(seconds * 1e9 / trips, 1),
            ["latency_ns"] = latency.ToJson(),
            ["cpu_percent"] = cpu.Stop(seconds),
        };
        socket.Shutdown(SocketShutdown.Both);
        await WaitForExitAsync(peer, cancellationToken);
        File.Delete(path);
        return result;
    }

    private static Process StartPeer(string address, IpcBenchSettings s)
    {
        return SelfProcess.Start(
            ["bench", "ipc", "--child", address, "--pattern", s.Pattern, "--size", s.Size.ToString(System.Globalization.CultureInfo.InvariantCulture), "--wait", s.Wait.ToString().ToLowerInvariant()],
            "bench peer");
    }

    private static async Task<JsonObject> PeerReportAsync(Process peer, CancellationToken cancellationToken)
    {
        string output = await peer.StandardOutput.ReadToEndAsync(cancellationToken).WaitAsync(TimeSpan.FromSeconds(60), cancellationToken);
        return JsonNode.Parse(output.Trim())?.AsObject() ?? throw new InvalidDataException("The bench peer reported nothing.");
    }

    private static async Task WaitForExitAsync(Process peer, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(TimeSpan.FromSeconds(30));
        try
        {
            await peer.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            peer.Kill();
            throw new TimeoutException("The bench peer process did not exit within 30 s.");
        }
    }

    private static void Render(IAnsiConsole console, JsonObject report)
    {
        var table = new Table().Border(TableBorder.Rounded).AddColumn("measure").AddColumn(new TableColumn("value").RightAligned());
        table.Title = new TableTitle($"parley bench ipc --pattern {report["pattern"]}");
        foreach ((string key, JsonNode? value) in report)
        {
            table.AddRow(Markup.Escape(key), Markup.Escape(value?.ToJsonString() ?? ""));
        }

        console.Write(table);
    }
}
