using System.Buffers;
using System.Diagnostics.Metrics;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Parley.Tests;

public class BadInputTests
{
    [Fact]
    public async Task Random_garbage_from_many_peers_closes_at_most_those_peers_and_the_server_keeps_serving()
    {
        var pool = new BufferPool();
        var options = TestSupport.ServerOptions(pool);
        options.Framer = new LengthPrefixedFramer(maxMessageSize: 64 * 1024);
        options.CloseTimeout = TimeSpan.FromSeconds(1);
        await using var server = new ParleyServer(options);
        server.MessageReceived += static (connection, message) => connection.Send(message);
        var reasons = new System.Collections.Concurrent.ConcurrentQueue<CloseReason>();
        server.Disconnected += connection => reasons.Enqueue(connection.CloseReason);
        server.Start();

        const int Peers = 40;
        var random = new Random(1234);
        var payloads = Enumerable.Range(0, Peers).Select(_ =>
        {
            var bytes = new byte[random.Next(1, 20_000)];
            random.NextBytes(bytes);
            return bytes;
        }).ToArray();

        await Task.WhenAll(payloads.Select(async garbage =>
        {
            using Socket peer = await TestSupport.ConnectRawAsync(server);
            await peer.SendAsync(garbage);
            peer.Shutdown(SocketShutdown.Send);

            // Read until the server closes; whatever it echoed is irrelevant here.
            var sink = new byte[64 * 1024];
            try
            {
                while (await peer.ReceiveAsync(sink.AsMemory()).AsTask().Within() > 0)
                {
                }
            }
            catch (SocketException)
            {
                // A reset is one way for the server to close a violator.
            }
        })).Within();

        await TestSupport.Until(() => reasons.Count == Peers, "every garbage peer is closed");
        Assert.All(reasons, reason => Assert.Contains(reason, new[] { CloseReason.FrameTooLarge, CloseReason.RemoteClose, CloseReason.ConnectionReset }));

        await using var client = new ParleyClient(TestSupport.ClientOptions(server, pool));
        var echoed = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.MessageReceived += (_, message) => echoed.TrySetResult(message.ToArray());
        await client.ConnectAsync().Within();
        client.Send("after the storm"u8);
        Assert.Equal("after the storm"u8.ToArray(), await echoed.Task.Within());
    }

    [Fact]
    public async Task A_line_longer_than_the_limit_closes_that_connection_with_a_logged_reason()
    {
        var pool = new BufferPool();
        var logs = new CapturingLoggerFactory();
        var options = TestSupport.ServerOptions(pool);
        options.Framer = new LineFramer(maxLineLength: 1024);
        options.LoggerFactory = logs;
        await using var server = new ParleyServer(options);
        var closed = new TaskCompletionSource<Connection>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Disconnected += connection => closed.TrySetResult(connection);
        server.Start();

        using Socket peer = await TestSupport.ConnectRawAsync(server);
        await peer.SendAsync(new byte[5000].Select(_ => (byte)'x').ToArray());
        Connection connection = await closed.Task.Within();
        Assert.Equal(CloseReason.FrameTooLarge, connection.CloseReason);
        Assert.True(logs.Contains(102, "FrameTooLarge"), "the violation was logged");
        Assert.Contains(logs.Entries, entry => entry.Level == LogLevel.Warning);
    }

    [Fact]
    public async Task Slow_consumer_drops_are_counted_in_metrics_and_logged_per_episode_not_per_frame()
    {
        var pool = new BufferPool();
        var logs = new CapturingLoggerFactory();
        var options = TestSupport.ServerOptions(pool);
        options.MaxSendQueueBytes = 32 * 1024;
        options.SlowConsumerPolicy = SlowConsumerPolicy.DropNewest;
        options.LoggerFactory = logs;
        await using var server = new ParleyServer(options);
        var connected = new TaskCompletionSource<Connection>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Connected += connection => connected.TrySetResult(connection);
        server.Start();

        long dropsCounted = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == ParleyMetrics.MeterName && instrument.Name == "parley.messages.dropped")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref dropsCounted, value));
        listener.Start();

        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await peer.ConnectAsync(server.LocalEndPoint).Within();
        Connection serverSide = await connected.Task.Within();
        byte[] payload = new byte[1000];
        for (int i = 0; i < 20_000; i++)
        {
            serverSide.Send(payload);
        }

        Assert.True(serverSide.MessagesDropped > 0);
        Assert.True(Interlocked.Read(ref dropsCounted) >= serverSide.MessagesDropped);
        // Logged when an episode starts (the queue fills), not once per dropped frame.
        int logged = logs.Entries.Count(entry => entry.EventId == 103);
        Assert.True(serverSide.MessagesDropped > 1000, $"{serverSide.MessagesDropped} dropped");
        Assert.True(logged >= 1 && logged * 50 < serverSide.MessagesDropped, $"{logged} log lines for {serverSide.MessagesDropped} drops");
    }

    [Fact]
    public async Task An_empty_message_is_refused_at_the_sender_because_it_would_read_as_a_keep_alive()
    {
        var pool = new BufferPool();
        await using var server = new ParleyServer(TestSupport.ServerOptions(pool));
        server.Start();
        await using Connection connection = await ParleyClient.OpenConnectionAsync(TestSupport.ClientOptions(server, pool)).Within();
        Assert.Throws<ArgumentException>(() => connection.Send(ReadOnlySpan<byte>.Empty));
        Assert.Throws<ArgumentException>(() => connection.Send(new byte[LengthPrefixedFramer.DefaultMaxMessageSize + 1]));
        Assert.Equal(SendStatus.Queued, connection.Send("fine"u8));
    }

    [Fact]
    public async Task Reading_messages_twice_on_one_connection_is_refused()
    {
        var pool = new BufferPool();
        await using var server = new ParleyServer(TestSupport.ServerOptions(pool));
        server.Start();
        Connection connection = await ParleyClient.OpenConnectionAsync(TestSupport.ClientOptions(server, pool)).Within();
        await using (connection)
        {
            _ = connection.ReadMessagesAsync(); // never enumerated: claims nothing
            await using IAsyncEnumerator<ReadOnlySequence<byte>> first = connection.ReadMessagesAsync().GetAsyncEnumerator();
            Task<bool> pending = first.MoveNextAsync().AsTask();
            await using IAsyncEnumerator<ReadOnlySequence<byte>> second = connection.ReadMessagesAsync().GetAsyncEnumerator();
            await Assert.ThrowsAsync<InvalidOperationException>(() => second.MoveNextAsync().AsTask());

            await connection.CloseAsync().Within();
            Assert.False(await pending.Within());
        }

        await server.StopAsync().Within();
        Assert.Equal(0, pool.Outstanding);
    }
}
