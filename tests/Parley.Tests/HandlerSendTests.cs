using System.Buffers;
using System.Text;

namespace Parley.Tests;

/// <summary>
/// What a message handler queues on its own connection is never lost or stuck, whatever the
/// handler does next: block on a flush or on room, close, or wait while another thread sends.
/// (Holding a handler's sends until the end of its parse pass was tried in issue 17 and
/// dropped; these pin the behaviour any such batching must keep.)
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

            // Sync over async inside a handler: poor style, but it must work: the flush does not
            // wait for the handler to return.
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

            // A graceful close from inside the handler: everything queued before it is written first.
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
    public async Task A_send_from_another_thread_is_written_while_the_handler_still_blocks()
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

    [Fact]
    public async Task A_reply_queued_before_slow_work_in_the_handler_is_written_while_the_handler_works()
    {
        using var release = new ManualResetEventSlim();
        var releasedInTime = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        (ParleyServer server, InMemoryConnectionListener listener) = await StartAsync("ack-then-work", (connection, _) =>
        {
            connection.Send("ack"u8);

            // The work: it ends when the test has seen the ack, so an ack held until the handler
            // returned would leave this wait to time out.
            releasedInTime.TrySetResult(release.Wait(TestSupport.Timeout));
        });
        await using (server)
        {
            Connection client = await ParleyClient.OpenConnectionAsync(new ParleyClientOptions { Dialer = listener.CreateDialer() }).Within();
            await using IAsyncEnumerator<ReadOnlySequence<byte>> messages = client.ReadMessagesAsync().GetAsyncEnumerator();
            client.Send("request"u8);
            Assert.True(await messages.MoveNextAsync().AsTask().WaitAsync(TestSupport.Timeout * 2));
            Assert.Equal("ack", Encoding.UTF8.GetString(messages.Current));
            release.Set();
            Assert.True(await releasedInTime.Task.Within(), "the ack arrived only after the handler's work timed out");
            await client.DisposeAsync();
        }
    }

    /// <summary>A one-byte-length framer whose fast path forgets to check that the payload is all there.</summary>
    private sealed class TrustingFramer() : MessageFramer(255)
    {
        public override FrameParseStatus TryParse(in ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> payload, out SequencePosition consumed)
        {
            payload = default;
            consumed = buffer.Start;
            if (buffer.IsEmpty || buffer.Length < 1 + buffer.FirstSpan[0])
            {
                return FrameParseStatus.NeedMoreData;
            }

            payload = buffer.Slice(1, buffer.FirstSpan[0]);
            consumed = payload.End;
            return FrameParseStatus.Message;
        }

        public override FrameParseStatus TryParseContiguous(ReadOnlySpan<byte> buffer, out int payloadOffset, out int payloadLength, out int consumed)
        {
            payloadOffset = 1;
            payloadLength = buffer.IsEmpty ? 0 : buffer[0];
            consumed = 1 + payloadLength; // the bug: no check that the payload is all in the buffer
            return payloadLength == 0 ? FrameParseStatus.NeedMoreData : FrameParseStatus.Message;
        }

        public override int GetFrameLength(int payloadLength) => payloadLength; // the client writes raw bytes

        public override void WriteFrame(ReadOnlySpan<byte> payload, Span<byte> destination) => payload.CopyTo(destination);
    }

    [Fact]
    public async Task A_framer_fast_path_answer_past_the_bytes_received_closes_the_connection_instead_of_handing_over_stale_bytes()
    {
        var framer = new TrustingFramer();
        var listener = new InMemoryConnectionListener("trusting-framer");
        await using var server = new ParleyServer(new ParleyServerOptions { Framer = framer }.Listen(listener));
        int delivered = 0;
        Connection? serverSide = null;
        server.Connected += connection => Volatile.Write(ref serverSide, connection);
        server.MessageReceived += (_, _) => Interlocked.Increment(ref delivered);
        server.Start();

        // A header announcing 200 bytes and only 5 of them: the rest never comes.
        Connection client = await ParleyClient.OpenConnectionAsync(new ParleyClientOptions { Dialer = listener.CreateDialer(), Framer = framer }).Within();
        client.Send([200, 1, 2, 3, 4, 5]);
        await TestSupport.Until(() => Volatile.Read(ref serverSide) is { State: ConnectionState.Closed }, "the server closed the connection");
        Assert.Equal(0, Volatile.Read(ref delivered));
        Assert.Equal(CloseReason.ApplicationError, serverSide!.CloseReason);
        await client.DisposeAsync();
    }

    [Fact]
    public async Task A_framer_fast_path_answer_past_the_bytes_received_fails_the_async_reader_instead_of_handing_over_stale_bytes()
    {
        var framer = new TrustingFramer();
        var listener = new InMemoryConnectionListener("trusting-framer-async");
        await using var server = new ParleyServer(new ParleyServerOptions { Framer = framer }.Listen(listener));
        server.Connected += connection => connection.Send([200, 1, 2, 3, 4, 5]); // announces 200 bytes, sends 5
        server.Start();

        Connection client = await ParleyClient.OpenConnectionAsync(new ParleyClientOptions { Dialer = listener.CreateDialer(), Framer = framer }).Within();
        await using IAsyncEnumerator<ReadOnlySequence<byte>> messages = client.ReadMessagesAsync().GetAsyncEnumerator();
        InvalidOperationException error = await Assert.ThrowsAsync<InvalidOperationException>(() => messages.MoveNextAsync().AsTask().Within());
        Assert.Contains("TryParseContiguous", error.Message, StringComparison.Ordinal);
        await client.DisposeAsync();
    }
}
