using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;

namespace Parley.Tests;

public class LivenessAndBackpressureTests
{
    /// <summary>A peer that connects and then never reads: its receive window fills and the server's queue grows.</summary>
    private static async Task<(ParleyServer Server, Connection ServerSide, Socket Peer)> StartWithStalledPeerAsync(ParleyServerOptions options)
    {
        var server = new ParleyServer(options);
        var connected = new TaskCompletionSource<Connection>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Connected += connection => connected.TrySetResult(connection);
        server.Start();
        var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await peer.ConnectAsync(server.LocalEndPoint).Within();
        return (server, await connected.Task.Within(), peer);
    }

    private static ParleyServerOptions SmallQueue(BufferPool pool, SlowConsumerPolicy policy)
    {
        var options = TestSupport.ServerOptions(pool);
        options.MaxSendQueueBytes = 64 * 1024;
        options.SlowConsumerPolicy = policy;
        options.CloseTimeout = TimeSpan.FromMilliseconds(500);
        return options;
    }

    [Fact]
    public async Task A_peer_that_stops_reading_is_disconnected_as_a_slow_consumer_and_memory_stays_bounded()
    {
        var pool = new BufferPool();
        ParleyServerOptions options = SmallQueue(pool, SlowConsumerPolicy.Disconnect);
        (ParleyServer server, Connection serverSide, Socket peer) = await StartWithStalledPeerAsync(options);
        await using (server)
        using (peer)
        {
            var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            server.Disconnected += _ => closed.TrySetResult();
            byte[] payload = new byte[1000];
            SendStatus status = SendStatus.Queued;
            long peakQueued = 0;
            for (int i = 0; i < 1_000_000 && status == SendStatus.Queued; i++)
            {
                status = serverSide.Send(payload);
                peakQueued = Math.Max(peakQueued, serverSide.QueuedSendBytes);
            }

            Assert.Equal(SendStatus.SlowConsumerDisconnected, status);
            Assert.True(peakQueued <= options.MaxSendQueueBytes, $"queue reached {peakQueued} bytes");
            await closed.Task.Within();
            Assert.Equal(CloseReason.SlowConsumer, serverSide.CloseReason);
            Assert.Equal(SendStatus.Closed, serverSide.Send(payload));
        }

        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task Drop_newest_keeps_a_slow_connection_open_counts_the_drops_and_bounds_the_queue()
    {
        var pool = new BufferPool();
        ParleyServerOptions options = SmallQueue(pool, SlowConsumerPolicy.DropNewest);
        (ParleyServer server, Connection serverSide, Socket peer) = await StartWithStalledPeerAsync(options);
        await using (server)
        using (peer)
        {
            byte[] payload = new byte[1000];
            int dropped = 0;
            for (int i = 0; i < 5000; i++)
            {
                if (serverSide.Send(payload) == SendStatus.QueueFull)
                {
                    dropped++;
                }

                Assert.True(serverSide.QueuedSendBytes <= options.MaxSendQueueBytes);
            }

            Assert.True(dropped > 0);
            Assert.Equal(dropped, serverSide.MessagesDropped);
            Assert.Equal(ConnectionState.Open, serverSide.State);
        }

        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task Drop_oldest_keeps_the_newest_frames_so_a_late_reader_gets_the_latest_message()
    {
        var pool = new BufferPool();
        ParleyServerOptions options = SmallQueue(pool, SlowConsumerPolicy.DropOldest);
        (ParleyServer server, Connection serverSide, Socket peer) = await StartWithStalledPeerAsync(options);
        await using (server)
        using (peer)
        {
            const int Count = 5000;
            byte[] payload = new byte[1000];
            for (int i = 0; i < Count; i++)
            {
                BinaryPrimitives.WriteInt32LittleEndian(payload, i);
                Assert.Equal(SendStatus.Queued, serverSide.Send(payload));
                Assert.True(serverSide.QueuedSendBytes <= options.MaxSendQueueBytes);
            }

            Assert.True(serverSide.MessagesDropped > 0);

            // Now read everything the server still had: the stream must end with the last message.
            int last = -1;
            var header = new byte[4];
            var body = new byte[1000];
            while (last != Count - 1)
            {
                await ReadExactlyAsync(peer, header);
                int length = BinaryPrimitives.ReadInt32LittleEndian(header);
                if (length == 0)
                {
                    continue; // keep-alive
                }

                await ReadExactlyAsync(peer, body.AsMemory(0, length));
                int sequence = BinaryPrimitives.ReadInt32LittleEndian(body);
                Assert.True(sequence > last, $"{sequence} after {last}");
                last = sequence;
            }
        }

        Assert.Equal(0, pool.Outstanding);
    }

    private static async Task ReadExactlyAsync(Socket socket, Memory<byte> buffer)
    {
        int filled = 0;
        while (filled < buffer.Length)
        {
            int read = await socket.ReceiveAsync(buffer[filled..]).AsTask().Within();
            Assert.NotEqual(0, read);
            filled += read;
        }
    }

    [Fact]
    public async Task SendAsync_waits_for_room_instead_of_dropping_when_the_peer_is_slow()
    {
        var pool = new BufferPool();
        ParleyServerOptions options = SmallQueue(pool, SlowConsumerPolicy.Disconnect);
        (ParleyServer server, Connection serverSide, Socket peer) = await StartWithStalledPeerAsync(options);
        await using (server)
        using (peer)
        {
            byte[] payload = new byte[1000];
            Task pending = Task.CompletedTask;
            int queued = 0;
            while (pending.IsCompleted && queued < 100_000)
            {
                pending = serverSide.SendAsync(payload).AsTask();
                queued++;
            }

            // The queue is full and the peer reads nothing: SendAsync is parked, the connection is open.
            Assert.False(pending.IsCompleted, $"queued={queued} status={pending.Status} {pending.Exception} state={serverSide.State} reason={serverSide.CloseReason}");
            Assert.Equal(ConnectionState.Open, serverSide.State);
            Assert.True(serverSide.QueuedSendBytes <= options.MaxSendQueueBytes);

            // The peer starts reading: the parked send goes through.
            using var drain = new CancellationTokenSource();
            Task reader = Task.Run(async () =>
            {
                var sink = new byte[64 * 1024];
                while (!drain.IsCancellationRequested && await peer.ReceiveAsync(sink.AsMemory(), drain.Token) > 0)
                {
                }
            });
            await pending.Within();
            await serverSide.FlushAsync().Within();
            drain.Cancel();
            await reader.ContinueWith(_ => { }, TaskScheduler.Default).Within();
        }

        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task A_client_with_auto_reconnect_comes_back_after_the_server_drops_it()
    {
        var pool = new BufferPool();
        await using var server = new ParleyServer(TestSupport.ServerOptions(pool));
        int accepted = 0;
        Connection? first = null;
        server.Connected += connection =>
        {
            if (Interlocked.Increment(ref accepted) == 1)
            {
                first = connection;
            }
        };
        server.MessageReceived += (connection, message) =>
        {
            // Drop the first connection as a network failure would, once the client is surely up.
            if (connection == first)
            {
                connection.Abort(CloseReason.LocalAbort);
                return;
            }

            connection.Send(message);
        };
        server.Start();

        ParleyClientOptions options = TestSupport.ClientOptions(server, pool);
        options.AutoReconnect = true;
        options.ReconnectInitialDelay = TimeSpan.FromMilliseconds(20);
        await using var client = new ParleyClient(options);
        int connects = 0;
        var second = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var disconnects = new List<CloseReason>();
        client.Connected += _ =>
        {
            if (Interlocked.Increment(ref connects) == 2)
            {
                second.TrySetResult();
            }
        };
        client.Disconnected += connection =>
        {
            lock (disconnects)
            {
                disconnects.Add(connection.CloseReason);
            }
        };
        var echoed = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.MessageReceived += (_, message) => echoed.TrySetResult(message.ToArray());

        await client.ConnectAsync().Within();
        client.Send("lost with the first connection"u8);
        await second.Task.Within();
        await TestSupport.Until(() => client.IsConnected, "the second connection is open");
        client.Send("after reconnect"u8);
        Assert.Equal("after reconnect"u8.ToArray(), await echoed.Task.Within());
        lock (disconnects)
        {
            Assert.Single(disconnects);
            Assert.Contains(disconnects[0], new[] { CloseReason.RemoteClose, CloseReason.ConnectionReset });
        }

        // A local disconnect does not trigger another reconnect.
        await client.DisconnectAsync().Within();
        Assert.Equal(2, connects);
    }

    [Fact]
    public async Task Connecting_to_a_port_nobody_listens_on_fails_with_a_socket_error()
    {
        int port;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            probe.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
            port = ((System.Net.IPEndPoint)probe.LocalEndPoint!).Port;
        }

        var options = new ParleyClientOptions { RemoteEndPoint = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port) };
        await using var client = new ParleyClient(options);
        SocketException error = await Assert.ThrowsAsync<SocketException>(() => client.ConnectAsync().Within());
        Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
    }
}
