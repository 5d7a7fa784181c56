using System.Buffers;
using System.Text;

namespace Parley.Tests;

public class InMemoryConnectionTests
{
    [Fact]
    public async Task A_pair_carries_framed_messages_both_ways_and_a_graceful_close_delivers_everything_queued()
    {
        var pool = new BufferPool();
        (Connection a, Connection b) = InMemoryConnection.CreatePair(new ConnectionOptions { BufferPool = pool }, new ConnectionOptions { BufferPool = pool });
        for (int i = 0; i < 1000; i++)
        {
            a.Send(Encoding.UTF8.GetBytes($"message {i}"));
        }

        Task closing = a.CloseAsync();
        int received = 0;
        await foreach (ReadOnlySequence<byte> message in b.ReadMessagesAsync().WithCancellation(default))
        {
            Assert.Equal($"message {received}", Encoding.UTF8.GetString(message));
            received++;
        }

        Assert.Equal(1000, received);
        await b.CloseAsync().Within();
        await closing.Within();
        Assert.Equal(CloseReason.LocalClose, a.CloseReason);
        Assert.Equal(CloseReason.RemoteClose, b.CloseReason);
        await TestSupport.Until(() => pool.Outstanding == 0, "every pooled buffer is back");
    }

    [Fact]
    public async Task An_abort_is_a_reset_for_the_peer()
    {
        (Connection a, Connection b) = InMemoryConnection.CreatePair();
        Task<int> reading = Task.Run(async () =>
        {
            int count = 0;
            await foreach (ReadOnlySequence<byte> _ in b.ReadMessagesAsync())
            {
                count++;
            }

            return count;
        });
        a.Abort();
        await reading.Within();
        await TestSupport.Until(() => b.State == ConnectionState.Closed || b.CloseReason != CloseReason.None, "the peer saw the reset");
        Assert.Equal(CloseReason.ConnectionReset, b.CloseReason);
        await b.CloseAsync().Within();
    }

    [Fact]
    public async Task A_peer_that_does_not_read_pushes_back_until_the_slow_consumer_policy_applies()
    {
        (Connection a, Connection b) = InMemoryConnection.CreatePair(new ConnectionOptions { MaxSendQueueBytes = 64 * 1024 });
        byte[] payload = new byte[1024];
        int sent = 0;
        while (a.Send(payload) == SendStatus.Queued && sent < 10_000)
        {
            sent++;
            if (sent % 100 == 0)
            {
                await Task.Delay(1);
            }
        }

        Assert.True(sent < 10_000, "the bounded in-memory stream and send queue must fill up");
        await TestSupport.Until(() => a.CloseReason == CloseReason.SlowConsumer, "the slow-consumer policy closed the sender's side");
        await a.CloseAsync().Within();
        await b.CloseAsync().Within();
    }
}
