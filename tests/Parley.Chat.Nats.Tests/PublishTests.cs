using System.Text;
using System.Text.Json;
using NATS.Client.Core;
using NATS.Client.JetStream;
using Parley.Chat.Tests;
using Parley.Tests;

namespace Parley.Chat.Nats.Tests;

/// <summary>
/// How a node learns that JetStream stored a send: its own reply subscription, each answer matched
/// to its publish, a refusal for what nothing stores, and a deadline for what is not answered.
/// </summary>
public sealed class PublishTests : NatsNodesTest
{
    [Theory]
    [InlineData("""{"stream":"PARLEY", "seq":1}""", 1L, false, null, "PARLEY")]
    [InlineData("""{"stream":"PARLEY","seq":9223372036854775807,"duplicate":true}""", long.MaxValue, true, null, "PARLEY")]
    [InlineData("""{"domain":"hub","seq":7,"stream":"OTHER","extra":{"a":[1,2]}}""", 7L, false, null, "OTHER")]
    [InlineData("""{"error":null,"stream":"PARLEY","seq":5}""", 5L, false, null, "PARLEY")]
    [InlineData("""{"seq":3}""", 3L, false, null, null)]
    [InlineData("""{"error":{"code":503,"err_code":10039,"description":"jetstream not enabled"}}""", 0L, false, "jetstream not enabled (code 503, error 10039)", null)]
    [InlineData("""{"error":{"code":400,"description":7}}""", 0L, false, "an error (code 400, error 0)", null)]
    public void A_publish_acknowledgement_is_read(string json, long sequence, bool duplicate, string? error, string? stream)
    {
        Assert.True(PubAck.TryParse(Encoding.UTF8.GetBytes(json), out PubAck ack));
        Assert.Equal(new PubAck((ulong)sequence, duplicate, error, stream), ack);
        Assert.Equal(stream is null or "PARLEY", ack.StreamIs("PARLEY"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("null")]
    [InlineData("[]")]
    [InlineData("""{"stream":"PARLEY"}""")]                    // no sequence
    [InlineData("""{"stream":"PARLEY","seq":0}""")]            // JetStream's sequences start at 1
    [InlineData("""{"stream":"PARLEY","seq":-1}""")]
    [InlineData("""{"stream":"PARLEY","seq":"5"}""")]
    [InlineData("""{"stream":"PARLEY","seq":1.5}""")]
    [InlineData("""{"stream":"PARLEY","seq":5""")]             // cut short
    [InlineData("""{"stream":"PARLEY","seq":5} {}""")]         // something after it
    [InlineData("""{"stream":"PARLEY","seq":5,"duplicate":"yes"}""")]
    [InlineData("""{"stream":"PARLEY","seq":9223372036854775808}""")] // past a signed 64-bit id
    [InlineData("""{"stream":5,"seq":5}""")]
    [InlineData("""{"error":"no","seq":5}""")]
    [InlineData("""{"a":{"b":{"c":{"d":{"e":1}}}},"seq":5}""")] // deeper than an answer goes
    public void An_answer_that_is_not_an_acknowledgement_is_not_taken_for_one(string json)
    {
        Assert.False(PubAck.TryParse(Encoding.UTF8.GetBytes(json), out _));
    }

    [Fact]
    public async Task A_send_nothing_stores_is_refused_as_not_stored()
    {
        if (Nats is null)
        {
            return;
        }

        ChatHarness a = await StartNodeAsync("a");
        TestClient client = await a.ConnectJoinedAsync();
        client.Send("""{"_ct":"send_message","r":"general","c":"before","ref":1}""");
        await client.WaitForAsync("message_ack");

        await using (var bus = new NatsConnection(new NatsOpts { Url = Nats.Url }))
        {
            await new NatsJSContext(bus).DeleteStreamAsync("PARLEY"); // no stream takes the subject now: no one answers
        }

        client.Send("""{"_ct":"send_message","r":"general","c":"into nothing","ref":2}""");
        JsonElement error = await client.WaitForAsync("error");
        Assert.Equal("unavailable", error.GetProperty("code").GetString());
        Assert.Equal(2, error.GetProperty("ref").GetInt64());
        Assert.Contains("not stored", error.GetProperty("message").GetString());
        Assert.Equal(0, Backplanes[0].PendingPublishes);
    }

    [Fact]
    public async Task A_publish_not_confirmed_in_time_is_refused_as_maybe_stored_and_its_late_answer_is_ignored()
    {
        if (Nats is null)
        {
            return;
        }

        var time = new ManualTime();
        ChatHarness a = await StartNodeAsync("a", configureBackplane: options => options.TimeProvider = time);
        TestClient client = await a.ConnectJoinedAsync();
        client.Send("""{"_ct":"send_message","r":"general","c":"first","ref":1}""");
        Assert.Equal(1, (await client.WaitForAsync("message_ack")).GetProperty("id").GetInt64());

        Nats.Pause();
        try
        {
            client.Send("""{"_ct":"send_message","r":"general","c":"while frozen","ref":2}""");
            using (var deadline = new CancellationTokenSource(ChatHarness.Timeout))
            {
                while (Backplanes[0].PendingPublishes == 0)
                {
                    await Task.Delay(10, deadline.Token); // on its way, not answered
                }
            }

            time.Advance(TimeSpan.FromSeconds(2)); // the publish timeout
            JsonElement error = await client.WaitForAsync("error");
            Assert.Equal("unavailable", error.GetProperty("code").GetString());
            Assert.Equal(2, error.GetProperty("ref").GetInt64());
            Assert.Contains("may still be stored", error.GetProperty("message").GetString());
            Assert.Equal(0, Backplanes[0].PendingPublishes);
        }
        finally
        {
            Nats.Resume();
        }

        // It was stored after all: delivered (to its sender as well) with the next id; its late
        // acknowledgement matches nothing, and the next send is acknowledged with its own id.
        JsonElement late = await client.WaitForAsync("user_message");
        Assert.Equal("while frozen", late.GetProperty("c").GetString());
        Assert.Equal(2, late.GetProperty("id").GetInt64());
        client.Send("""{"_ct":"send_message","r":"general","c":"after","ref":3}""");
        JsonElement ack = await client.WaitForAsync("message_ack");
        Assert.Equal(3, ack.GetProperty("ref").GetInt64());
        Assert.Equal(3, ack.GetProperty("id").GetInt64());
    }

    [Fact]
    public async Task A_start_that_outlasts_the_connect_deadline_still_receives_its_acknowledgements()
    {
        if (Nats is null)
        {
            return;
        }

        // A stream to catch up on, and a host slow enough that the catch-up outlasts the connect
        // deadline: the subscriptions made during the start must not end with that deadline.
        await using (var bus = new NatsConnection(new NatsOpts { Url = Nats.Url }))
        {
            var js = new NatsJSContext(bus);
            await js.CreateStreamAsync(new NATS.Client.JetStream.Models.StreamConfig("PARLEY", ["parley.room.>"]));
            for (int i = 0; i < 20; i++)
            {
                await js.PublishAsync("parley.room.general", Record("general", "old", $"m{i}"));
            }
        }

        NatsChatBackplaneOptions options = BackplaneOptions("slow");
        options.ConnectTimeout = TimeSpan.FromMilliseconds(500);
        await using var backplane = new NatsChatBackplane(options);
        var host = new SlowHost(TimeSpan.FromMilliseconds(50));
        await backplane.StartAsync(host, CancellationToken.None);
        Assert.Equal(20, host.Delivered);

        Task<long> stored = await backplane.PublishAsync("general", Record("general", "new", "after the start"), CancellationToken.None);
        Assert.Equal(21, await stored.WaitAsync(ChatHarness.Timeout));
    }

    [Fact]
    public async Task A_catch_up_slower_than_the_stream_loses_nothing_and_never_starts_the_consumer_over()
    {
        if (Nats is null)
        {
            return;
        }

        const int Stored = 3000;
        await using (var bus = new NatsConnection(new NatsOpts { Url = Nats.Url }))
        {
            var js = new NatsJSContext(bus);
            await js.CreateStreamAsync(new NATS.Client.JetStream.Models.StreamConfig("PARLEY", ["parley.room.>"]));
            byte[] record = Record("general", "old", "catch me up");
            var acks = new List<NatsJSPublishConcurrentFuture>();
            for (int i = 0; i < Stored; i++)
            {
                acks.Add(await js.PublishConcurrentAsync("parley.room.general", record));
            }

            foreach (NatsJSPublishConcurrentFuture ack in acks)
            {
                await using (ack)
                {
                    (await ack.GetResponseAsync()).EnsureSuccess();
                }
            }
        }

        // A host slower than JetStream hands the stream over: NATS.Net's consumer must wait for it
        // (not drop what does not fit its buffer, then start over at the gap).
        var warnings = new LogLines(Microsoft.Extensions.Logging.LogLevel.Warning);
        NatsChatBackplaneOptions options = BackplaneOptions("slow");
        options.LoggerFactory = warnings;
        await using var backplane = new NatsChatBackplane(options);
        var host = new SlowHost(TimeSpan.FromMilliseconds(1));
        await backplane.StartAsync(host, CancellationToken.None);
        Assert.Equal(Stored, host.Delivered);
        Assert.DoesNotContain(warnings.Lines, line => line.Contains("Slow consumer", StringComparison.OrdinalIgnoreCase) || line.Contains("mismatch", StringComparison.OrdinalIgnoreCase));
    }

    private sealed class SlowHost(TimeSpan perMessage) : IChatBackplaneHost
    {
        private int _delivered;

        public int Delivered => Volatile.Read(ref _delivered);

        public void OnMessage(long id, DateTimeOffset timestamp, ReadOnlySpan<byte> record)
        {
            Thread.Sleep(perMessage);
            Interlocked.Increment(ref _delivered);
        }

        public void OnRemotePresence(string node, string room, string user, bool present)
        {
        }

        public void OnDeliveryStopped(string reason)
        {
        }
    }
}
