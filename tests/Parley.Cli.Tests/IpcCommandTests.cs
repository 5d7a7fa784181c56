using System.Text.Json;
using Parley.Ipc;

namespace Parley.Cli.Tests;

/// <summary>Shared memory between real processes: this test process on one side, a <c>parley</c> process on the other.</summary>
public sealed class IpcCommandTests
{
    private static string UniqueName() => $"test-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40];

    [Fact]
    public async Task Two_processes_exchange_a_million_messages_in_order()
    {
        string name = UniqueName();
        using IpcListener listener = IpcListener.Listen(name);
        await using ParleyProcess peer = ParleyProcess.Start("bench", "ipc", "--child", $"ipc:{name}", "--pattern", "stream", "--size", "16", "--wait", "hybrid");
        IpcChannel channel = await listener.AcceptAsync().WaitAsync(ParleyProcess.Timeout);
        byte[] message = new byte[16];
        for (long i = 0; i < 1_000_000; i++)
        {
            BitConverter.TryWriteBytes(message, i);
            channel.Write(message);
        }

        channel.Dispose(); // the peer reads to the end, then prints what it saw
        Assert.True(await peer.WaitForExitAsync() == 0, peer.Output);
        using JsonDocument report = JsonDocument.Parse(peer.Output.Trim());
        Assert.Equal(1_000_000, report.RootElement.GetProperty("received").GetInt64());
        Assert.True(report.RootElement.GetProperty("in_order").GetBoolean(), peer.Output);
    }

    [Fact]
    public async Task A_peer_killed_mid_stream_ends_the_channel_with_peer_died()
    {
        string name = UniqueName();
        using IpcListener listener = IpcListener.Listen(name, new IpcOptions { WaitStrategy = IpcWaitStrategy.Block });
        await using ParleyProcess peer = ParleyProcess.Start("bench", "ipc", "--child", $"ipc:{name}", "--pattern", "pingpong", "--size", "8", "--wait", "block");
        using IpcChannel channel = await listener.AcceptAsync().WaitAsync(ParleyProcess.Timeout);
        for (long i = 0; i < 100; i++)
        {
            channel.Write(BitConverter.GetBytes(i));
            Assert.True(channel.Read(out ReadOnlySpan<byte> reply));
            Assert.Equal(i, BitConverter.ToInt64(reply));
        }

        peer.KillHard();
        // A read blocked in the futex is woken when the kernel closes the dead process's socket.
        IpcException error = await Task.Factory.StartNew(() => Assert.Throws<IpcException>(() => channel.Read(out _)), TaskCreationOptions.LongRunning).WaitAsync(ParleyProcess.Timeout);
        Assert.Equal(CloseReason.ConnectionReset, error.Reason);
        Assert.Equal(CloseReason.ConnectionReset, channel.CloseReason);
        Assert.Equal(CloseReason.ConnectionReset, Assert.Throws<IpcException>(() => channel.Write([1])).Reason);
    }

    [Fact]
    public async Task Bench_ipc_pingpong_reports_round_trips_and_compares_tcp_and_unix_sockets()
    {
        await using ParleyProcess bench = ParleyProcess.Start("bench", "ipc", "--pattern", "pingpong", "--duration", "0.3", "--compare", "--json");
        Assert.Equal(0, await bench.WaitForExitAsync());
        using JsonDocument json = bench.JsonOutput();
        JsonElement root = json.RootElement;
        Assert.True(root.GetProperty("round_trips_per_s").GetDouble() > 0, bench.Output);
        Assert.True(root.GetProperty("ns_per_round_trip").GetDouble() > 0);
        Assert.Equal(470, root.GetProperty("c_limit_ns_per_round_trip").GetDouble());
        foreach (string field in (string[])["p50", "p90", "p99", "p999", "max"])
        {
            Assert.True(root.GetProperty("latency_ns").TryGetProperty(field, out _), field);
        }

        Assert.True(root.GetProperty("cpu_percent").TryGetProperty("peer_process", out _));
        string[] transports = [.. root.GetProperty("compare").EnumerateArray().Select(e => e.GetProperty("transport").GetString()!)];
        Assert.Equal(["tcp", "uds"], transports);
        Assert.All(root.GetProperty("compare").EnumerateArray(), e => Assert.True(e.GetProperty("round_trips_per_s").GetDouble() > 0));
    }

    [Theory]
    [InlineData("stream", "spin")]
    [InlineData("stream", "block")]
    [InlineData("stream", "yield")]
    [InlineData("pingpong", "block")]
    public async Task Bench_ipc_runs_each_pattern_and_wait_strategy(string pattern, string wait)
    {
        await using ParleyProcess bench = ParleyProcess.Start("bench", "ipc", "--pattern", pattern, "--wait", wait, "--duration", "0.3", "--json");
        Assert.Equal(0, await bench.WaitForExitAsync());
        using JsonDocument json = bench.JsonOutput();
        JsonElement root = json.RootElement;
        if (pattern == "stream")
        {
            Assert.Equal(root.GetProperty("sent").GetInt64(), root.GetProperty("received").GetInt64());
            Assert.True(root.GetProperty("in_order").GetBoolean());
            Assert.True(root.GetProperty("msgs_per_s").GetDouble() > 0);
            Assert.True(root.GetProperty("mib_per_s").GetDouble() > 0);
        }
        else
        {
            Assert.True(root.GetProperty("idle_cpu_percent").TryGetProperty("peer_process", out _), bench.Output);
            Assert.Equal(200, root.GetProperty("wakeup_round_trip_us").GetProperty("count").GetInt64());
        }
    }

    [Fact]
    public async Task Bench_ipc_connection_pattern_gets_every_echo_back_over_shared_memory_and_tcp()
    {
        await using ParleyProcess bench = ParleyProcess.Start("bench", "ipc", "--pattern", "connection", "--inflight", "50", "--duration", "0.5", "--compare", "--json");
        Assert.True(await bench.WaitForExitAsync() == 0, bench.Output);
        using JsonDocument json = bench.JsonOutput();
        JsonElement root = json.RootElement;
        JsonElement[] runs = [root, .. root.GetProperty("compare").EnumerateArray()];
        Assert.Equal(["ipc", "tcp"], runs.Select(r => r.GetProperty("transport").GetString()));
        foreach (JsonElement run in runs)
        {
            Assert.True(run.GetProperty("sent").GetInt64() > 50, bench.Output);
            Assert.Equal(run.GetProperty("sent").GetInt64(), run.GetProperty("received").GetInt64());
            Assert.True(run.GetProperty("msgs_per_s").GetDouble() > 0);
            Assert.True(run.GetProperty("latency_ns").GetProperty("count").GetInt64() > 0);
        }
    }

    [Fact]
    public async Task Echo_over_shared_memory_answers_a_parley_client()
    {
        string name = UniqueName();
        await using ParleyProcess echo = ParleyProcess.Start("echo", "--transport", "ipc", "--name", name);
        await echo.WaitForLineAsync("listening on ipc:");
        var replies = new System.Collections.Concurrent.BlockingCollection<byte[]>();
        await using var client = new ParleyClient(new ParleyClientOptions { Dialer = new IpcConnectionDialer(name) });
        client.MessageReceived += (_, message) => replies.Add(System.Buffers.BuffersExtensions.ToArray(message));
        await client.ConnectAsync().WaitAsync(ParleyProcess.Timeout);
        for (int i = 0; i < 100; i++)
        {
            client.Send(BitConverter.GetBytes(i));
            Assert.True(replies.TryTake(out byte[]? reply, ParleyProcess.Timeout));
            Assert.Equal(i, BitConverter.ToInt32(reply));
        }
    }

    [Fact]
    public async Task A_connection_over_shared_memory_ends_with_a_reset_when_the_server_process_is_killed()
    {
        string name = UniqueName();
        await using ParleyProcess echo = ParleyProcess.Start("echo", "--transport", "ipc", "--name", name);
        await echo.WaitForLineAsync("listening on ipc:");
        var closed = new TaskCompletionSource<CloseReason>(TaskCreationOptions.RunContinuationsAsynchronously);
        var replies = new System.Collections.Concurrent.BlockingCollection<byte[]>();
        await using var client = new ParleyClient(new ParleyClientOptions { Dialer = new IpcConnectionDialer(name) });
        client.MessageReceived += (_, message) => replies.Add(System.Buffers.BuffersExtensions.ToArray(message));
        client.Disconnected += connection => closed.TrySetResult(connection.CloseReason);
        await client.ConnectAsync().WaitAsync(ParleyProcess.Timeout);
        client.Send("before"u8);
        Assert.True(replies.TryTake(out _, ParleyProcess.Timeout));

        echo.KillHard(); // SIGKILL: no close flag is ever written; the rendezvous socket's end is the news
        Assert.Equal(CloseReason.ConnectionReset, await closed.Task.WaitAsync(ParleyProcess.Timeout));
    }

    [Fact]
    public async Task Serve_over_shared_memory_chats_with_the_terminal_client_and_broadcasts_to_another_session()
    {
        string name = UniqueName();
        string data = Path.Combine(Path.GetTempPath(), "parley-ipc-serve-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using ParleyProcess server = ParleyProcess.Start("serve", "--transport", "ipc", "--name", name, "--data", data);
            await server.WaitForLineAsync($"listening on ipc:{name} ");

            // Another session on the same name, through the library: it joins and watches.
            var events = new System.Collections.Concurrent.BlockingCollection<JsonElement>();
            await using var watcher = new ParleyClient(new ParleyClientOptions
            {
                Dialer = new IpcConnectionDialer(name),
                Framer = new LineFramer(64 * 1024),
                IdleTimeout = Timeout.InfiniteTimeSpan,
                KeepAliveInterval = Timeout.InfiniteTimeSpan,
            });
            watcher.MessageReceived += (_, line) => events.Add(JsonDocument.Parse(System.Buffers.BuffersExtensions.ToArray(line)).RootElement.Clone());
            await watcher.ConnectAsync().WaitAsync(ParleyProcess.Timeout);
            await WaitForEventAsync(events, "login_successful");
            watcher.Send("""{"_ct":"join_room","r":"general"}"""u8);
            await WaitForEventAsync(events, "room_participation");

            await using ParleyProcess chat = ParleyProcess.Start("chat", "--transport", "ipc", "--name", name);
            await chat.WriteInputAndCloseAsync("/join general\nhello over shared memory\n");
            Assert.True(await chat.WaitForExitAsync() == 0, chat.Output);
            Assert.Matches(@"(?m)^\[#general\] user-[0-9a-f]+: hello over shared memory$", chat.Output);
            Assert.Matches(@"(?m)^\* stored #general id \d+$", chat.Output);

            JsonElement message = await WaitForEventAsync(events, "user_message");
            Assert.Equal("hello over shared memory", message.GetProperty("c").GetString());
        }
        finally
        {
            if (Directory.Exists(data))
            {
                Directory.Delete(data, recursive: true);
            }
        }
    }

    [Theory]
    [InlineData("chat", "bad name")]
    [InlineData("serve", "../escape")]
    [InlineData("echo", "")]
    public async Task A_bad_ipc_name_is_a_parse_error_not_a_stack_trace(string command, string name)
    {
        await using ParleyProcess parley = ParleyProcess.Start(command, "--transport", "ipc", "--name", name);
        await parley.WriteInputAndCloseAsync("");
        Assert.NotEqual(0, await parley.WaitForExitAsync());
        Assert.Contains($"--name: '{name}' is not a valid IPC name", parley.Output);
        Assert.DoesNotContain("Unhandled exception", parley.Output);
    }

    [Theory]
    [InlineData("--ring 1000", "--ring: 1000 is not a power of two")]
    [InlineData("--duration 0", "--duration: 0 is out of range: must be more than 0 and at most 86400 seconds.")]
    [InlineData("--pattern stream --size 2000000", "--size 2000000 does not fit a 1048576-byte ring")]
    public async Task Bench_ipc_refuses_bad_numbers_with_the_rule(string arguments, string message)
    {
        await ParleyProcess.AssertRefusesAsync(message, ["bench", "ipc", .. arguments.Split(' ')]);
    }

    [Fact]
    public async Task The_chat_client_reports_a_name_nobody_serves()
    {
        await using ParleyProcess chat = ParleyProcess.Start("chat", "--transport", "ipc", "--name", UniqueName());
        await chat.WriteInputAndCloseAsync("");
        Assert.Equal(1, await chat.WaitForExitAsync());
        Assert.Contains("parley chat: cannot connect to ipc:test-", chat.Output);
    }

    private static Task<JsonElement> WaitForEventAsync(System.Collections.Concurrent.BlockingCollection<JsonElement> events, string type) =>
        Task.Factory.StartNew(
            () =>
            {
                while (events.TryTake(out JsonElement e, ParleyProcess.Timeout))
                {
                    if (e.GetProperty("_et").GetString() == type)
                    {
                        return e;
                    }
                }

                throw new TimeoutException($"no {type} event within {ParleyProcess.Timeout}");
            },
            TaskCreationOptions.LongRunning);
}
