using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Parley.Chat.Nats.Tests;

namespace Parley.Cli.Tests;

/// <summary><c>parley serve --cluster</c>: nodes as processes sharing rooms through a nats-server of the test's own.</summary>
public sealed class ServeClusterTests : IAsyncLifetime
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"parley-cluster-{Guid.NewGuid():N}");
    private NatsServer? _nats;

    public async Task InitializeAsync() => _nats = await NatsServer.StartAsync();

    public async Task DisposeAsync()
    {
        if (_nats is not null)
        {
            await _nats.DisposeAsync();
        }

        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }

    private Task<(ParleyProcess Process, IPEndPoint EndPoint)> StartNodeAsync(string name) =>
        ParleyProcess.StartServeAsync("--data", Path.Combine(_data, name), "--cluster", _nats!.Url, "--node-name", name);

    [Fact]
    public async Task Three_nodes_deliver_a_room_in_one_order_with_the_same_ids_and_cluster_status_shows_them()
    {
        if (_nats is null)
        {
            return;
        }

        var nodes = new List<(ParleyProcess Process, IPEndPoint EndPoint)>();
        try
        {
            foreach (string name in new[] { "one", "two", "three" })
            {
                nodes.Add(await StartNodeAsync(name));
            }

            Assert.Matches(@"cluster: nats://127\.0\.0\.1:\d+ as node one, stream PARLEY", nodes[0].Process.Output);
            var clients = new List<LineClient>();
            foreach ((_, IPEndPoint endPoint) in nodes)
            {
                LineClient client = await LineClient.ConnectAsync(endPoint);
                await client.WaitForAsync("login_successful");
                await client.SendAsync("""{"_ct":"join_room","r":"general"}""");
                await client.WaitForAsync("user_joined_room");
                clients.Add(client);
            }

            const int PerNode = 10;
            for (int i = 0; i < PerNode; i++)
            {
                for (int n = 0; n < clients.Count; n++)
                {
                    await clients[n].SendAsync($$"""{"_ct":"send_message","r":"general","c":"node {{n}} says {{i}}","ref":{{i}}}""");
                }
            }

            var seen = new List<string>[clients.Count];
            for (int n = 0; n < clients.Count; n++)
            {
                seen[n] = [];
                int acks = 0;
                while (seen[n].Count < PerNode * clients.Count || acks < PerNode)
                {
                    JsonElement next = await clients[n].NextAsync() ?? throw new IOException("closed");
                    switch (next.GetProperty("_et").GetString())
                    {
                        case "user_message":
                            seen[n].Add($"{next.GetProperty("id").GetInt64()}:{next.GetProperty("c").GetString()}");
                            break;
                        case "message_ack":
                            acks++;
                            break;
                    }
                }
            }

            Assert.Equal(seen[0], seen[1]);
            Assert.Equal(seen[0], seen[2]);
            Assert.Equal(Enumerable.Range(1, PerNode * clients.Count).Select(i => i.ToString(CultureInfo.InvariantCulture)), seen[0].Select(s => s[..s.IndexOf(':', StringComparison.Ordinal)]));

            await using ParleyProcess status = ParleyProcess.Start("cluster", "status", "--cluster", _nats.Url, "--json", "--listen", "1.5");
            Assert.Equal(0, await status.WaitForExitAsync());
            using JsonDocument json = status.JsonOutput();
            JsonElement root = json.RootElement;
            Assert.Equal(30, root.GetProperty("last_seq").GetInt64());
            Assert.Equal(30, root.GetProperty("rooms").GetProperty("general").GetInt64());
            Assert.Equal(["one", "three", "two"], root.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("name").GetString()!).ToArray());

            // The stream as text, in the order every node delivered it.
            await using ParleyProcess dump = ParleyProcess.Start("journal", "dump", "--cluster", _nats.Url, "--room", "general");
            Assert.Equal(0, await dump.WaitForExitAsync());
            string[] lines = dump.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(seen[0].Select(s => s[(s.IndexOf(':', StringComparison.Ordinal) + 1)..]), lines.Select(l => l[(l.IndexOf(": ", StringComparison.Ordinal) + 2)..]));

            foreach (LineClient client in clients)
            {
                client.Dispose();
            }
        }
        finally
        {
            foreach ((ParleyProcess process, _) in nodes)
            {
                await process.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_node_killed_mid_run_loses_no_acknowledged_message_and_the_terminal_client_moves_to_another_node()
    {
        if (_nats is null)
        {
            return;
        }

        (ParleyProcess doomed, IPEndPoint doomedEndPoint) = await StartNodeAsync("doomed");
        (ParleyProcess survivor, IPEndPoint survivorEndPoint) = await StartNodeAsync("survivor");
        await using (survivor)
        {
            await using ParleyProcess chat = ParleyProcess.Start(
                "chat", "--servers", $"127.0.0.1:{doomedEndPoint.Port},127.0.0.1:{survivorEndPoint.Port}", "--reconnect-attempts", "5");
            await chat.WriteInputAsync("/join general\nbefore the crash\n");
            await chat.WaitForLineAsync(@$"^\* connected to 127\.0\.0\.1:{doomedEndPoint.Port}|^\[#general\] \S+: before the crash$");
            await chat.WaitForLineAsync(@"^\* stored #general id \d+$");

            // A sender on the doomed node: every ack it got must survive the node's death.
            var acked = new List<long>();
            using (LineClient sender = await LineClient.ConnectAsync(doomedEndPoint))
            {
                await sender.WaitForAsync("login_successful");
                await sender.SendAsync("""{"_ct":"join_room","r":"general"}""");
                await sender.WaitForAsync("user_joined_room");
                for (int i = 0; i < 200; i++)
                {
                    await sender.SendAsync($$"""{"_ct":"send_message","r":"general","c":"burst {{i}}","ref":{{i}}}""");
                }

                while (acked.Count < 20)
                {
                    JsonElement ack = await sender.WaitForAsync("message_ack");
                    acked.Add(ack.GetProperty("id").GetInt64());
                }

                doomed.KillHard(); // mid-run: more sends are in flight
                await doomed.WaitForExitAsync();
                try
                {
                    while (await sender.NextAsync() is { } next)
                    {
                        if (next.GetProperty("_et").GetString() == "message_ack")
                        {
                            acked.Add(next.GetProperty("id").GetInt64());
                        }
                    }
                }
                catch (IOException)
                {
                    // Reset by the dead node.
                }
            }

            await doomed.DisposeAsync();

            // The terminal client was on the dead node: it reconnects to the survivor and carries on.
            await chat.WaitForLineAsync(@$"^\* reconnected to 127\.0\.0\.1:{survivorEndPoint.Port} as \S+");
            await chat.WriteInputAsync("after the crash\n");
            await chat.WaitForLineAsync(@"^\[#general\] \S+: after the crash$");

            // Every acknowledged message is in the survivor's history.
            using LineClient reader = await LineClient.ConnectAsync(survivorEndPoint);
            await reader.WaitForAsync("login_successful");
            var ids = new HashSet<long>();
            long? before = null;
            while (true)
            {
                await reader.SendAsync(before is null ? """{"_ct":"history","r":"general","limit":200}""" : $$"""{"_ct":"history","r":"general","limit":200,"before":{{before}}}""");
                JsonElement page = await reader.WaitForAsync("history");
                JsonElement[] messages = [.. page.GetProperty("ms").EnumerateArray()];
                ids.UnionWith(messages.Select(m => m.GetProperty("id").GetInt64()));
                if (!page.GetProperty("more").GetBoolean())
                {
                    break;
                }

                before = messages[0].GetProperty("id").GetInt64();
            }

            Assert.All(acked, id => Assert.Contains(id, ids));
            chat.CloseInput();
        }
    }

    [Fact]
    public async Task Serve_with_an_unreachable_cluster_exits_with_a_clear_error()
    {
        await using ParleyProcess serve = ParleyProcess.Start("serve", "--port", "0", "--data", _data, "--cluster", "nats://parley:s3cret@127.0.0.1:1");
        Assert.Equal(2, await serve.WaitForExitAsync());
        Assert.Contains("cannot join the cluster", serve.Output);
        Assert.Contains("nats://127.0.0.1:1", serve.Output);
        Assert.DoesNotContain("s3cret", serve.Output); // credentials in the URL never reach the log
        Assert.DoesNotContain("Unhandled exception", serve.Output);
    }

    [Fact]
    public async Task Bad_cluster_settings_are_refused_before_anything_starts()
    {
        await ParleyProcess.AssertRefusesAsync("A node name is 1 to 64 letters", "serve", "--port", "0", "--data", _data, "--cluster", "nats://127.0.0.1:4222", "--node-name", "no spaces");
        await ParleyProcess.AssertRefusesAsync("--servers: 'nowhere' is not HOST:PORT", "chat", "--servers", "nowhere");
    }
}
