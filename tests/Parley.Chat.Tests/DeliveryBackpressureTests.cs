using System.Text.Json;

namespace Parley.Chat.Tests;

/// <summary>Stored messages waiting for delivery are bounded: a delivery slower than the disk pushes back on the senders.</summary>
public class DeliveryBackpressureTests
{
    private const int Limit = 16 * 1024;
    private const int Messages = 300;

    [Fact]
    public async Task A_stalled_delivery_stops_the_sender_at_the_queue_limit_and_then_everything_is_delivered_in_order()
    {
        using var gate = new ManualResetEventSlim(false);
        await using var harness = ChatHarness.Start(o =>
        {
            o.MaxQueuedDeliveryBytes = Limit;
            o.ConfigureJournal = j => j.MaxPendingBytes = Limit; // the journal's own bound on what waits for the disk
            o.MaxCommandsPerSecond = 1_000_000;
            o.BeforeDelivery = () => gate.Wait(ChatHarness.Timeout);
        });
        try
        {
            await SendPastTheLimitAsync(harness, gate);
        }
        finally
        {
            gate.Set(); // a failed assertion must not leave every delivery waiting at the gate
        }
    }

    private static async Task SendPastTheLimitAsync(ChatHarness harness, ManualResetEventSlim gate)
    {
        TestClient client = harness.Connect();
        await client.ExpectAsync("login_successful");
        client.Send("""{"_ct":"join_room","r":"general"}""");
        await client.WaitForAsync("user_joined_room");

        string content = new('x', 1000); // ~1 KiB records: the limit holds about 16
        for (int i = 0; i < Messages; i++)
        {
            client.Send(JsonSerializer.Serialize(new Dictionary<string, object> { ["_ct"] = "send_message", ["r"] = "general", ["c"] = content, ["ref"] = i }));
        }

        // The first delivery is held at the gate; the session stops appending once the queue is full.
        Task held = harness.Server.Deliveries.FirstWait;
        await Task.WhenAny(held, Task.Delay(ChatHarness.Timeout));
        Assert.True(held.IsCompleted, $"the sender was never held back; {harness.Server.LastMessageId} stored, {harness.Server.Deliveries.QueuedBytes} bytes queued");

        // What was appended before the queue filled was at most the journal's pending limit: both
        // bounds together, not the 300 KB sent.
        long stored = harness.Server.LastMessageId;
        Assert.InRange(harness.Server.Deliveries.QueuedBytes, Limit, (2 * Limit) + 1100);
        Assert.InRange(stored, Limit / 1100, (2 * Limit / 1000) + 2);

        gate.Set();
        for (int i = 0; i < Messages; i++)
        {
            JsonElement ack = await client.WaitForAsync("message_ack");
            Assert.Equal(i, ack.GetProperty("ref").GetInt64());
        }

        Assert.Equal(Messages, harness.Server.LastMessageId);
        Assert.Equal(0, harness.Server.Deliveries.QueuedBytes);
    }
}
