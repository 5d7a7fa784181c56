using System.Text.Json;

namespace Parley.Chat.Tests;

public class SlowClientTests
{
    [Fact]
    public async Task A_client_that_stops_reading_is_disconnected_as_a_slow_consumer_while_the_others_receive_everything()
    {
        await using var harness = ChatHarness.Start();
        TestClient sender = harness.Connect();
        TestClient reader = harness.Connect();
        TestClient stuck = harness.Connect(o => o.MaxSendQueueBytes = 16 * 1024, read: false);
        await sender.ExpectAsync("login_successful");
        await reader.ExpectAsync("login_successful");
        stuck.Send("""{"_ct":"join_room","r":"general"}""");
        foreach (TestClient client in new[] { sender, reader })
        {
            client.Send("""{"_ct":"join_room","r":"general"}""");
            await client.WaitForAsync("user_joined_room");
        }

        string content = new('x', 1000);
        const int Count = 2000; // 2 MB to each member: far past the stuck client's buffers and 16 KiB queue
        for (int i = 0; i < Count; i++)
        {
            sender.Send(JsonSerializer.Serialize(new Dictionary<string, string> { ["_ct"] = "send_message", ["r"] = "general", ["c"] = $"{i} {content}" }));
        }

        for (int i = 0; i < Count; i++)
        {
            JsonElement message = await reader.WaitForAsync("user_message");
            Assert.StartsWith($"{i} ", message.GetProperty("c").GetString());
        }

        await TestWait.UntilAsync(() => stuck.ServerSide.State == ConnectionState.Closed);
        Assert.Equal(CloseReason.SlowConsumer, stuck.ServerSide.CloseReason);
        await TestWait.UntilAsync(() => harness.Server.SessionCount == 2);
    }
}

internal static class TestWait
{
    public static async Task UntilAsync(Func<bool> condition)
    {
        using var deadline = new CancellationTokenSource(ChatHarness.Timeout);
        while (!condition())
        {
            await Task.Delay(10, deadline.Token);
        }
    }
}
