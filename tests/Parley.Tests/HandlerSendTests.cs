using System.Buffers;
using System.Text;

namespace Parley.Tests;

/// <summary>
/// Sends a message handler makes are written when its parse pass ends (one wake, one write per
/// read). These pin what that must never change: nothing a handler queued is lost or stuck.
/// </summary>
public class HandlerSendTests
{
    private static async Task<(ParleyServer Server, InMemoryConnectionListener Listener)> StartAsync(string name, MessageHandler handler)
    {
        var listener = new InMemoryConnectionListener(name);
        var server = new ParleyServer(new ParleyServerOptions().Listen(listener));
        server.MessageReceived += handler;
        server.Start();
        await Task.CompletedTask;
        return (server, listener);
    }

    private static async Task<List<string>> ReadAllAsync(Connection client)
    {
        var received = new List<string>();
        await foreach (ReadOnlySequence<byte> message in client.ReadMessagesAsync())
        {
            received.Add(Encoding.UTF8.GetString(message));
        }

        return received;
    }

    [Fact]
    public async Task A_handler_that_sends_then_blocks_on_FlushAsync_is_not_waiting_for_itself()
    {
        (ParleyServer server, InMemoryConnectionListener listener) = await StartAsync("flush-in-handler", (connection, message) =>
        {
            connection.Send(message);

            // Sync over async inside a handler: poor style, but it worked before sends were
            // deferred to the end of the pass, and it must still: the flush wakes the send loop.
            connection.FlushAsync().Wait(TestSupport.Timeout);
            connection.Send("after the flush"u8);
        });
        await using (server)
        {
            Connection client = await ParleyClient.OpenConnectionAsync(new ParleyClientOptions { Dialer = listener.CreateDialer() }).Within();
            await using IAsyncEnumerator<ReadOnlySequence<byte>> messages = client.ReadMessagesAsync().GetAsyncEnumerator();
            client.Send("ping"u8);
            Assert.True(await messages.MoveNextAsync().AsTask().Within());
            Assert.Equal("ping", Encoding.UTF8.GetString(messages.Current));
            Assert.True(await messages.MoveNextAsync().AsTask().Within());
            Assert.Equal("after the flush", Encoding.UTF8.GetString(messages.Current));
            await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_handler_that_waits_for_room_in_a_full_queue_is_not_waiting_for_itself()
    {
        byte[] big = new byte[40 * 1024];
        var listener = new InMemoryConnectionListener("room-in-handler");
        await using var server = new ParleyServer(new ParleyServerOptions { MaxSendQueueBytes = 64 * 1024 }.Listen(listener));
        server.MessageReceived += (connection, _) =>
        {
            // The second frame does not fit until the first is written: SendAsync waits for room.
            connection.Send(big);
            connection.SendAsync(big).AsTask().Wait(TestSupport.Timeout);
            connection.Send("done"u8);
        };
        server.Start();

        Connection client = await ParleyClient.OpenConnectionAsync(new ParleyClientOptions { Dialer = listener.CreateDialer() }).Within();
        await using IAsyncEnumerator<ReadOnlySequence<byte>> messages = client.ReadMessagesAsync().GetAsyncEnumerator();
        client.Send("go"u8);
        var lengths = new List<long>();
        for (int i = 0; i < 3; i++)
        {
            Assert.True(await messages.MoveNextAsync().AsTask().Within());
            lengths.Add(messages.Current.Length);
        }

        Assert.Equal([big.Length, big.Length, 4], lengths);
        await client.DisposeAsync();
    }

    [Fact]
    public async Task Replies_queued_by_a_handler_that_then_closes_the_connection_are_delivered_before_the_close()
    {
        (ParleyServer server, InMemoryConnectionListener listener) = await StartAsync("close-in-handler", (connection, message) =>
        {
            for (int i = 0; i < 100; i++)
            {
                connection.Send(Encoding.UTF8.GetBytes($"reply {i}"));
            }

            // A graceful close from inside the handler: its wake comes before the pass ends.
            _ = connection.CloseAsync();
        });
        await using (server)
        {
            Connection client = await ParleyClient.OpenConnectionAsync(new ParleyClientOptions { Dialer = listener.CreateDialer() }).Within();
            Task<List<string>> reading = ReadAllAsync(client);
            client.Send("bye"u8);
            List<string> received = await reading.Within();
            Assert.Equal(Enumerable.Range(0, 100).Select(i => $"reply {i}"), received);
            Assert.Equal(CloseReason.RemoteClose, client.CloseReason);
            await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task Another_thread_sending_while_a_handler_holds_its_wake_is_written_without_waiting_for_the_handler()
    {
        using var release = new ManualResetEventSlim();
        var listener = new InMemoryConnectionListener("other-thread");
        await using var server = new ParleyServer(new ParleyServerOptions().Listen(listener));
        Connection? serverSide = null;
        server.MessageReceived += (connection, _) =>
        {
            connection.Send("from the handler"u8);
            Volatile.Write(ref serverSide, connection);

            // Hold the pass open until the other thread's message has arrived at the client.
            release.Wait(TestSupport.Timeout);
        };
        server.Start();

        Connection client = await ParleyClient.OpenConnectionAsync(new ParleyClientOptions { Dialer = listener.CreateDialer() }).Within();
        await using IAsyncEnumerator<ReadOnlySequence<byte>> messages = client.ReadMessagesAsync().GetAsyncEnumerator();
        client.Send("go"u8);
        await TestSupport.Until(() => Volatile.Read(ref serverSide) is not null, "the handler ran");
        await Task.Run(() => serverSide!.Send("from another thread"u8));

        // The other thread's send wakes the send loop, which writes what is queued: the handler's
        // message (queued first) and then the other thread's, while the handler still blocks.
        var got = new List<string>();
        for (int i = 0; i < 2; i++)
        {
            Assert.True(await messages.MoveNextAsync().AsTask().Within());
            got.Add(Encoding.UTF8.GetString(messages.Current));
        }

        release.Set();
        Assert.Equal(["from the handler", "from another thread"], got);
        await client.DisposeAsync();
    }
}
