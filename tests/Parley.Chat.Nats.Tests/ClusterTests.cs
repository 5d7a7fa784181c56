using System.Text.Json;
using Parley.Chat.Tests;

namespace Parley.Chat.Nats.Tests;

/// <summary>Several chat nodes (in this process) sharing rooms through a real nats-server with JetStream.</summary>
public sealed class ClusterTests : NatsNodesTest
{
    private static void SendMessage(TestClient client, string content, long reference, string room = "general") =>
        client.Send($$"""{"_ct":"send_message","r":"{{room}}","c":"{{content}}","ref":{{reference}}}""");

    /// <summary>The next <paramref name="count"/> user_message events, skipping anything else.</summary>
    private static async Task<List<(long Id, string Content)>> ReceiveAsync(TestClient client, int count)
    {
        var received = new List<(long, string)>();
        while (received.Count < count)
        {
            JsonElement message = await client.WaitForAsync("user_message");
            received.Add((message.GetProperty("id").GetInt64(), message.GetProperty("c").GetString()!));
        }

        return received;
    }

    [Fact]
    public async Task Every_node_delivers_every_room_message_in_one_order_with_the_same_ids_and_acks_after_the_store()
    {
        if (Nats is null)
        {
            return;
        }

        ChatHarness a = await StartNodeAsync("a");
        ChatHarness b = await StartNodeAsync("b");
        ChatHarness c = await StartNodeAsync("c");
        TestClient onA = await a.ConnectJoinedAsync();
        TestClient onB = await b.ConnectJoinedAsync();
        TestClient onC = await c.ConnectJoinedAsync();

        // Three senders on three nodes, interleaved, pipelined.
        const int PerSender = 30;
        for (int i = 0; i < PerSender; i++)
        {
            SendMessage(onA, $"a{i}", i);
            SendMessage(onB, $"b{i}", i);
            SendMessage(onC, $"c{i}", i);
        }

        List<(long Id, string Content)> seenA = await ReceiveAsync(onA, 3 * PerSender);
        List<(long Id, string Content)> seenB = await ReceiveAsync(onB, 3 * PerSender);
        List<(long Id, string Content)> seenC = await ReceiveAsync(onC, 3 * PerSender);

        Assert.Equal(seenA, seenB);
        Assert.Equal(seenA, seenC);
        Assert.Equal(seenA.Select(m => m.Id).Order(), seenA.Select(m => m.Id));
        Assert.Equal(3 * PerSender, seenA.Select(m => m.Id).Distinct().Count());
        foreach (string sender in new[] { "a", "b", "c" })
        {
            // Each sender's messages in the order it sent them.
            Assert.Equal(Enumerable.Range(0, PerSender).Select(i => $"{sender}{i}"), seenA.Where(m => m.Content.StartsWith(sender, StringComparison.Ordinal)).Select(m => m.Content));
        }

        // History is the same on every node (its ids too).
        foreach (TestClient client in new[] { onA, onB, onC })
        {
            client.Send("""{"_ct":"history","r":"general","limit":200}""");
        }

        string[] pages = new string[3];
        int n = 0;
        foreach (TestClient client in new[] { onA, onB, onC })
        {
            JsonElement history = await client.WaitForAsync("history");
            pages[n++] = string.Join(",", history.GetProperty("ms").EnumerateArray().Select(m => $"{m.GetProperty("id").GetInt64()}:{m.GetProperty("c").GetString()}"));
        }

        Assert.Equal(pages[0], pages[1]);
        Assert.Equal(pages[0], pages[2]);
        Assert.Equal(string.Join(",", seenA.Select(m => $"{m.Id}:{m.Content}")), pages[0]);
    }

    [Fact]
    public async Task Under_steady_load_across_heartbeats_no_send_is_refused_and_none_is_lost()
    {
        if (Nats is null)
        {
            return;
        }

        ChatHarness[] nodes = [await StartNodeAsync("a"), await StartNodeAsync("b"), await StartNodeAsync("c")];
        var clients = new List<TestClient>();
        for (int i = 0; i < 12; i++)
        {
            clients.Add(await nodes[i % 3].ConnectJoinedAsync(i % 2 == 0 ? "general" : "random"));
        }

        // Enough sends, pipelined from every node, that stream refreshes (every heartbeat) land
        // while deliveries race ahead of them.
        const int PerClient = 1500;
        foreach (TestClient client in clients)
        {
            for (int k = 0; k < PerClient; k++)
            {
                SendMessage(client, $"load {k}", k, clients.IndexOf(client) % 2 == 0 ? "general" : "random");
            }
        }

        foreach (TestClient client in clients)
        {
            for (int k = 0; k < PerClient; k++)
            {
                JsonElement reply = await client.NextAsync();
                while (reply.GetProperty("_et").GetString() is not ("message_ack" or "error"))
                {
                    reply = await client.NextAsync();
                }

                Assert.True(reply.GetProperty("_et").GetString() == "message_ack", $"refused: {reply}");
            }
        }

        Assert.All(Backplanes, backplane => Assert.False(backplane.StreamReplaced));
    }

    [Fact]
    public async Task A_sender_gets_its_message_then_an_ack_with_the_streams_id()
    {
        if (Nats is null)
        {
            return;
        }

        ChatHarness a = await StartNodeAsync("a");
        TestClient client = await a.ConnectJoinedAsync();
        for (int i = 1; i <= 5; i++)
        {
            SendMessage(client, $"hello {i}", i);
            JsonElement message = await client.ExpectAsync("user_message");
            JsonElement ack = await client.ExpectAsync("message_ack");
            Assert.Equal(message.GetProperty("id").GetInt64(), ack.GetProperty("id").GetInt64());
            Assert.Equal(i, ack.GetProperty("ref").GetInt64());
            Assert.Equal(i, ack.GetProperty("id").GetInt64()); // a fresh stream: the sequence is the id
        }

        Assert.Equal(0, a.Server.PendingAcks);
    }

    [Fact]
    public async Task Presence_spans_nodes_joins_leaves_and_list_users()
    {
        if (Nats is null)
        {
            return;
        }

        ChatHarness a = await StartNodeAsync("a");
        ChatHarness b = await StartNodeAsync("b");
        TestClient watcher = b.Connect();
        string watcherName = (await watcher.ExpectAsync("login_successful")).GetProperty("u").GetString()!;
        watcher.Send("""{"_ct":"join_room","r":"general"}""");
        await watcher.ExpectAsync("user_joined_room");

        TestClient visitor = a.Connect();
        JsonElement login = await visitor.ExpectAsync("login_successful");
        string visitorName = login.GetProperty("u").GetString()!;
        visitor.Send("""{"_ct":"join_room","r":"general"}""");
        await visitor.ExpectAsync("user_joined_room");

        // b's member hears that a's user entered, and b lists it.
        JsonElement joined = await WaitForParticipationAsync(watcher, visitorName, joined: true);
        Assert.Equal("general", joined.GetProperty("r").GetString());
        watcher.Send("""{"_ct":"list_users","r":"general"}""");
        JsonElement users = await watcher.WaitForAsync("room_users");
        Assert.Contains(visitorName, users.GetProperty("us").EnumerateArray().Select(u => u.GetString()));
        Assert.Contains(watcherName, users.GetProperty("us").EnumerateArray().Select(u => u.GetString()));

        // The visitor leaves: b's member hears it.
        await visitor.DisposeAsync();
        await WaitForParticipationAsync(watcher, visitorName, joined: false);
    }

    [Fact]
    public async Task A_leave_and_a_join_of_one_user_reaching_the_backplane_out_of_order_keep_the_user_present()
    {
        if (Nats is null)
        {
            return;
        }

        await StartNodeAsync("a");
        ChatHarness b = await StartNodeAsync("b");
        TestClient watcher = await b.ConnectJoinedAsync();

        // Session 2 of alice joins ("first here") before session 1's leave ("last here") is announced.
        Backplanes[0].SetPresence("general", "alice", present: true);
        await WaitForParticipationAsync(watcher, "alice", joined: true);
        Backplanes[0].SetPresence("general", "alice", present: true);
        Backplanes[0].SetPresence("general", "alice", present: false);
        Backplanes[0].SetPresence("general", "bob", present: true); // after alice's calls, on the same path
        await WaitForParticipationAsync(watcher, "bob", joined: true);

        watcher.Send("""{"_ct":"list_users","r":"general"}""");
        JsonElement users = await watcher.WaitForAsync("room_users");
        Assert.Contains("alice", users.GetProperty("us").EnumerateArray().Select(u => u.GetString()));
    }

    [Fact]
    public async Task A_node_that_dies_without_a_word_takes_its_users_out_of_the_rooms_on_the_others()
    {
        if (Nats is null)
        {
            return;
        }

        ChatHarness b = await StartNodeAsync("b");
        TestClient watcher = await b.ConnectJoinedAsync();

        // A node in another process that is SIGKILLed: here its NATS connection is cut without a goodbye.
        var doomed = new NatsChatBackplane(BackplaneOptions("doomed"));
        ChatHarness a = await ChatHarness.StartAsync(options => options.Backplane = doomed);
        TestClient visitor = a.Connect();
        string visitorName = (await visitor.ExpectAsync("login_successful")).GetProperty("u").GetString()!;
        visitor.Send("""{"_ct":"join_room","r":"general"}""");
        await WaitForParticipationAsync(watcher, visitorName, joined: true);

        await doomed.CrashForTestsAsync();
        await WaitForParticipationAsync(watcher, visitorName, joined: false);
        watcher.Send("""{"_ct":"list_users","r":"general"}""");
        JsonElement users = await watcher.WaitForAsync("room_users");
        Assert.DoesNotContain(visitorName, users.GetProperty("us").EnumerateArray().Select(u => u.GetString()));
        await a.DisposeAsync();
    }

    [Fact]
    public async Task While_nats_is_down_a_send_is_refused_with_unavailable_and_after_its_restart_delivery_resumes_without_gap_or_duplicate()
    {
        if (Nats is null)
        {
            return;
        }

        ChatHarness a = await StartNodeAsync("a");
        ChatHarness b = await StartNodeAsync("b");
        TestClient sender = await a.ConnectJoinedAsync();
        TestClient reader = await b.ConnectJoinedAsync();
        for (int i = 0; i < 5; i++)
        {
            SendMessage(sender, $"before {i}", i);
        }

        List<(long Id, string Content)> before = await ReceiveAsync(reader, 5);

        await Nats.KillAsync();
        await WaitUntilAsync(() => !Backplanes[0].Connected);
        SendMessage(sender, "while down", 99);
        JsonElement refused = await sender.WaitForAsync("error");
        Assert.Equal("unavailable", refused.GetProperty("code").GetString());
        Assert.Equal(99, refused.GetProperty("ref").GetInt64());

        await Nats.RestartAsync();
        await WaitUntilAsync(() => Backplanes.All(bp => bp.Connected));
        for (int i = 0; i < 5; i++)
        {
            SendMessage(sender, $"after {i}", 100 + i);
        }

        List<(long Id, string Content)> after = await ReceiveAsync(reader, 5);
        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"after {i}"), after.Select(m => m.Content));
        Assert.Equal(before[^1].Id + 1, after[0].Id); // the store kept its sequence: no gap, nothing twice
        reader.Send("""{"_ct":"history","r":"general"}""");
        JsonElement history = await reader.WaitForAsync("history");
        Assert.Equal(
            [.. before.Select(m => m.Content), .. after.Select(m => m.Content)],
            history.GetProperty("ms").EnumerateArray().Select(m => m.GetProperty("c").GetString()!).ToArray());
    }

    [Fact]
    public async Task A_node_that_starts_later_serves_the_same_history_and_older_pages_come_from_the_stream()
    {
        if (Nats is null)
        {
            return;
        }

        ChatHarness a = await StartNodeAsync("a", options => options.HistoryBytesPerRoom = 2048);
        TestClient sender = await a.ConnectJoinedAsync();
        for (int i = 0; i < 120; i++)
        {
            SendMessage(sender, $"message number {i} with some padding to fill the ring", i);
        }

        for (int i = 0; i < 120; i++)
        {
            await sender.WaitForAsync("message_ack");
        }

        // A node started now reads the stream: its ring holds the newest, the stream the rest.
        ChatHarness late = await StartNodeAsync("late", options => options.HistoryBytesPerRoom = 2048);
        TestClient reader = await late.ConnectJoinedAsync();
        var contents = new List<string>();
        long? beforeId = null;
        while (true)
        {
            reader.Send(beforeId is null ? """{"_ct":"history","r":"general","limit":50}""" : $$"""{"_ct":"history","r":"general","limit":50,"before":{{beforeId}}}""");
            JsonElement page = await reader.WaitForAsync("history");
            JsonElement[] messages = [.. page.GetProperty("ms").EnumerateArray()];
            contents.InsertRange(0, messages.Select(m => m.GetProperty("c").GetString()!));
            if (!page.GetProperty("more").GetBoolean())
            {
                break;
            }

            beforeId = messages[0].GetProperty("id").GetInt64();
        }

        Assert.Equal(Enumerable.Range(0, 120).Select(i => $"message number {i} with some padding to fill the ring"), contents);
    }

    [Fact]
    public async Task Opening_a_node_without_a_reachable_nats_fails_with_unavailable()
    {
        var backplane = new NatsChatBackplane(new NatsChatBackplaneOptions
        {
            Url = "nats://127.0.0.1:1",
            NodeName = "lonely",
            ConnectTimeout = TimeSpan.FromSeconds(1),
        });
        string directory = Path.Combine(Path.GetTempPath(), "parley-chat-" + Guid.NewGuid().ToString("N"));
        var error = await Assert.ThrowsAsync<ChatBackplaneUnavailableException>(() => ChatServer.OpenAsync(new ChatServerOptions { DataDirectory = directory, Backplane = backplane }));
        Assert.Contains("nats://127.0.0.1:1", error.Message, StringComparison.Ordinal);
        Directory.Delete(directory, recursive: true);
    }

    private static async Task<JsonElement> WaitForParticipationAsync(TestClient client, string user, bool joined)
    {
        while (true)
        {
            JsonElement participation = await client.WaitForAsync("room_participation");
            if (participation.GetProperty("u").GetString() == user && participation.GetProperty("s").GetString() == (joined ? "joined" : "left"))
            {
                return participation;
            }
        }
    }

    /// <summary>Polls a condition on the nodes' own state (not a timing assertion: the test's deadline is the harness's).</summary>
    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var deadline = new CancellationTokenSource(ChatHarness.Timeout);
        while (!condition())
        {
            await Task.Delay(20, deadline.Token);
        }
    }
}
