using System.Text;
using System.Text.Json;
using NATS.Client.Core;
using NATS.Client.JetStream;
using Parley.Chat.Tests;
using Parley.Tests;

namespace Parley.Chat.Nats.Tests;

/// <summary>
/// What a node does with what it did not expect on the bus: records too large for it, records on
/// the wrong subject, presence from peers that lie or never answer, a stream replaced under it.
/// </summary>
public sealed class HostileBusTests : NatsNodesTest
{
    private async Task<NatsConnection> BusAsync()
    {
        var bus = new NatsConnection(new NatsOpts { Url = Nats!.Url });
        await bus.ConnectAsync();
        return bus;
    }

    [Fact]
    public async Task A_record_larger_than_the_node_allows_is_skipped_and_history_past_it_still_pages()
    {
        if (Nats is null)
        {
            return;
        }

        ChatHarness node = await StartNodeAsync("a");
        TestClient client = await node.ConnectJoinedAsync();
        client.Send("""{"_ct":"send_message","r":"general","c":"before","ref":1}""");
        await client.WaitForAsync("message_ack");

        // Another node with a larger --max-message-bytes, or anything else on the bus, stored it.
        await using (NatsConnection bus = await BusAsync())
        {
            var js = new NatsJSContext(bus);
            await js.PublishAsync("parley.room.general", Record("general", "giant", new string('x', 300_000)));
        }

        client.Send("""{"_ct":"send_message","r":"general","c":"after","ref":2}""");
        JsonElement after = await client.WaitForAsync("user_message");
        Assert.Equal("after", after.GetProperty("c").GetString());
        Assert.Equal(3, after.GetProperty("id").GetInt64()); // the giant took sequence 2 and was skipped

        // Older than memory: read from the stream, the giant left out, the session still open.
        client.Send("""{"_ct":"history","r":"general","before":3}""");
        JsonElement history = await client.WaitForAsync("history");
        Assert.Equal(["before"], history.GetProperty("ms").EnumerateArray().Select(m => m.GetProperty("c").GetString()!).ToArray());
        await client.ExpectErrorAndStillOpenAsync_Ping();
    }

    [Theory]
    [InlineData("general", "parley.room.general", true)]
    [InlineData("general", "parley.room.General", false)]
    [InlineData("general", "parley.room.genera", false)]
    [InlineData("général", "parley.room.~67c3a96ec3a972616c", true)]       // the ~hex spelling SubjectToken gives
    [InlineData("général", "parley.room.~67C3A96EC3A972616C", false)]      // upper-case hex: not its spelling
    [InlineData("général", "parley.room.~67c3a96ec3a972616", false)]       // cut short
    [InlineData("général", "parley.room.~67c3a96ec3a972616c00", false)]    // longer
    [InlineData("general", "parley.room.~67656e6572616c", false)]          // a plain name is never hex-spelled
    [InlineData("a b", "parley.room.a b", false)]                          // a name that needs hex is never plain
    [InlineData("general", "other.room.general", false)]
    public async Task A_records_room_must_be_the_one_its_subject_names(string room, string subject, bool matches)
    {
        await using var backplane = new NatsChatBackplane(new NatsChatBackplaneOptions { Url = "nats://127.0.0.1:1", NodeName = "n" });
        Assert.Equal(matches, backplane.RecordMatchesSubject(Record(room, "u", "c"), subject));
        if (matches)
        {
            Assert.Equal(subject, backplane.RoomSubjectPrefix + NatsChatBackplane.SubjectToken(room));
        }
    }

    [Fact]
    public async Task A_record_on_another_rooms_subject_is_not_delivered()
    {
        if (Nats is null)
        {
            return;
        }

        ChatHarness node = await StartNodeAsync("a");
        TestClient general = await node.ConnectJoinedAsync("general");
        await using (NatsConnection bus = await BusAsync())
        {
            var js = new NatsJSContext(bus);
            await js.PublishAsync("parley.room.random", Record("general", "mallory", "smuggled into general"));
        }

        general.Send("""{"_ct":"send_message","r":"general","c":"honest","ref":1}""");
        JsonElement message = await general.WaitForAsync("user_message");
        Assert.Equal("honest", message.GetProperty("c").GetString());
    }

    [Fact]
    public async Task Presence_from_liars_neither_cuts_the_node_off_nor_holds_up_real_nodes()
    {
        if (Nats is null)
        {
            return;
        }

        ChatHarness a = await StartNodeAsync("a");
        ChatHarness b = await StartNodeAsync("b");
        TestClient watcher = await b.ConnectJoinedAsync();
        await using NatsConnection bus = await BusAsync();

        // A snapshot responder that never answers, and 30 made-up nodes that make everyone ask it;
        // an id far too long for a subject; a spoofed goodbye of nobody.
        await using INatsSub<byte[]> silent = await bus.SubscribeCoreAsync<byte[]>("parley.nodes.snapshot.>");
        for (int i = 0; i < 30; i++)
        {
            await bus.PublishAsync("parley.nodes", Encoding.UTF8.GetBytes($$"""{"k":"hb","id":"ghost-{{i}}","n":"ghost","v":1,"u":0,"d":0,"l":0}"""));
        }

        await bus.PublishAsync("parley.nodes", Encoding.UTF8.GetBytes($$"""{"k":"hb","id":"{{new string('L', 5000)}}","n":"evil","v":1,"u":0,"d":0,"l":0}"""));
        await bus.PublishAsync("parley.nodes", Encoding.UTF8.GetBytes("""{"k":"p","id":"x y","n":"x","v":1,"r":"general","u":"SPACE","j":true}"""));

        // A real user joins on a: b hears of it while the ghosts' snapshots are still timing out.
        TestClient visitor = a.Connect();
        string name = (await visitor.ExpectAsync("login_successful")).GetProperty("u").GetString()!;
        visitor.Send("""{"_ct":"join_room","r":"general"}""");
        while (true)
        {
            JsonElement participation = await watcher.WaitForAsync("room_participation");
            if (participation.GetProperty("u").GetString() == name)
            {
                break;
            }
        }

        // Neither node lost its connection to NATS over the long id: sends go on being stored.
        Assert.All(Backplanes, backplane => Assert.True(backplane.Connected));
        visitor.Send("""{"_ct":"send_message","r":"general","c":"still here","ref":5}""");
        JsonElement ack = await visitor.WaitForAsync("message_ack");
        Assert.Equal(5, ack.GetProperty("ref").GetInt64());
        Assert.DoesNotContain(Backplanes[1].RemoteNodes, n => n.Instance.Length > 80);
    }

    [Fact]
    public async Task A_flood_of_made_up_nodes_writes_a_bounded_number_of_log_lines()
    {
        if (Nats is null)
        {
            return;
        }

        // The clock stands still: the log's allowance is never refilled, so what it lets through is its burst.
        var time = new ManualTime();
        var log = new LogLines(Microsoft.Extensions.Logging.LogLevel.Information);
        await StartNodeAsync("a", configureBackplane: options =>
        {
            options.TimeProvider = time;
            options.LoggerFactory = log;
        });
        await using NatsConnection bus = await BusAsync();
        const int Ghosts = 200;
        for (int i = 0; i < Ghosts; i++)
        {
            await bus.PublishAsync("parley.nodes", Encoding.UTF8.GetBytes($$"""{"k":"hb","id":"ghost-{{i}}","n":"ghost","v":1,"u":0,"d":0,"l":0}"""));
            await bus.PublishAsync("parley.nodes", Encoding.UTF8.GetBytes($$"""{"k":"bye","id":"ghost-{{i}}","n":"ghost"}"""));
        }

        // Every message is taken (the last goodbye included) …
        await bus.PublishAsync("parley.nodes", Encoding.UTF8.GetBytes("""{"k":"hb","id":"last","n":"ghost","v":1,"u":0,"d":0,"l":0}"""));
        using (var deadline = new CancellationTokenSource(ChatHarness.Timeout))
        {
            while (!Backplanes[0].RemoteNodes.Any(n => n.Instance == "last"))
            {
                await Task.Delay(10, deadline.Token);
            }
        }

        // … and 401 joins and leaves were announced in at most the limiter's burst of lines.
        int lines = log.Lines.Count(line => line.Contains("ghost-", StringComparison.Ordinal) || line.Contains("last", StringComparison.Ordinal));
        Assert.InRange(lines, 1, 20);
    }

    [Fact]
    public async Task A_stream_deleted_and_created_again_is_noticed_and_sends_are_refused_not_misacked()
    {
        if (Nats is null)
        {
            return;
        }

        ChatHarness a = await StartNodeAsync("a");
        TestClient client = await a.ConnectJoinedAsync();
        for (int i = 1; i <= 3; i++)
        {
            client.Send($$"""{"_ct":"send_message","r":"general","c":"old {{i}}","ref":{{i}}}""");
            await client.WaitForAsync("message_ack");
        }

        await using (NatsConnection bus = await BusAsync())
        {
            var js = new NatsJSContext(bus);
            await js.DeleteStreamAsync("PARLEY");
            await js.CreateStreamAsync(new NATS.Client.JetStream.Models.StreamConfig("PARLEY", ["parley.room.>"]));
        }

        // Every send from now on is refused (never acked without its delivery), and within a
        // heartbeat the node knows why.
        using var deadline = new CancellationTokenSource(ChatHarness.Timeout);
        for (int attempt = 0; attempt < 5 || !Backplanes[0].StreamReplaced; attempt++)
        {
            Assert.False(deadline.IsCancellationRequested, "the node never noticed the stream was replaced");
            client.Send("""{"_ct":"send_message","r":"general","c":"after the swap","ref":9}""");
            JsonElement reply = await client.NextAsync();
            while (reply.GetProperty("_et").GetString() is not ("error" or "message_ack"))
            {
                reply = await client.NextAsync();
            }

            Assert.Equal("error", reply.GetProperty("_et").GetString());
            Assert.Equal("unavailable", reply.GetProperty("code").GetString());
            await Task.Delay(20);
        }
    }
}

internal static class TestClientExtensions
{
    /// <summary>The connection still answers a ping.</summary>
    public static async Task ExpectErrorAndStillOpenAsync_Ping(this TestClient client)
    {
        client.Send("""{"_ct":"ping"}""");
        await client.WaitForAsync("pong");
    }
}
