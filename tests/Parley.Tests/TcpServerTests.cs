using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Sockets;

namespace Parley.Tests;

public class TcpServerTests
{
    private static async Task<ParleyServer> StartEchoServerAsync(ParleyServerOptions options)
    {
        var server = new ParleyServer(options);
        server.MessageReceived += static (connection, message) => connection.Send(message);
        server.Start();
        await Task.CompletedTask;
        return server;
    }

    [Fact]
    public async Task Event_model_echoes_messages_of_many_sizes_in_order()
    {
        var pool = new BufferPool();
        await using (ParleyServer server = await StartEchoServerAsync(TestSupport.ServerOptions(pool)))
        {
            int[] sizes = [1, 2, 3, 4, 5, 100, 4095, 4096, 4097, 8191, 8192, 65536, 200_000, 1024 * 1024];
            var received = new ConcurrentQueue<byte[]>();
            var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await using var client = new ParleyClient(TestSupport.ClientOptions(server, pool));
            client.MessageReceived += (_, message) =>
            {
                received.Enqueue(message.ToArray());
                if (received.Count == sizes.Length)
                {
                    all.TrySetResult();
                }
            };
            await client.ConnectAsync().Within();
            for (int i = 0; i < sizes.Length; i++)
            {
                Assert.Equal(SendStatus.Queued, client.Send(TestSupport.Pattern(sizes[i], i)));
            }

            await all.Task.Within();
            Assert.Equal(sizes.Select((size, i) => TestSupport.Pattern(size, i)), received);
        }

        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task Async_model_reads_with_await_foreach_and_replies_with_SendAsync()
    {
        var pool = new BufferPool();
        await using (var server = new ParleyServer(TestSupport.ServerOptions(pool)))
        {
            server.Start(async (connection, cancellationToken) =>
            {
                await foreach (ReadOnlySequence<byte> message in connection.ReadMessagesAsync(cancellationToken))
                {
                    byte[] reply = [.. message.ToArray().Reverse()];
                    await connection.SendAsync(reply, cancellationToken);
                }
            });

            await using Connection connection = await ParleyClient.OpenConnectionAsync(TestSupport.ClientOptions(server, pool)).Within();
            for (int i = 0; i < 100; i++)
            {
                await connection.SendAsync(BitConverter.GetBytes(i));
            }

            await connection.FlushAsync().Within();
            int expected = 0;
            await foreach (ReadOnlySequence<byte> message in connection.ReadMessagesAsync().WithCancellation(new CancellationTokenSource(TestSupport.Timeout).Token))
            {
                byte[] reversed = [.. message.ToArray().Reverse()];
                Assert.Equal(expected, BitConverter.ToInt32(reversed));
                if (++expected == 100)
                {
                    break;
                }
            }

            Assert.Equal(100, expected);
        }

        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task An_oversized_length_prefix_closes_only_that_connection_with_reason_frame_too_large()
    {
        var pool = new BufferPool();
        await using ParleyServer server = await StartEchoServerAsync(TestSupport.ServerOptions(pool));
        var closed = new TaskCompletionSource<Connection>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Disconnected += connection => closed.TrySetResult(connection);

        await using var good = new ParleyClient(TestSupport.ClientOptions(server, pool));
        var echoed = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        good.MessageReceived += (_, message) => echoed.TrySetResult(message.ToArray());
        await good.ConnectAsync().Within();

        using Socket bad = await TestSupport.ConnectRawAsync(server);
        await bad.SendAsync(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF });

        Connection badConnection = await closed.Task.Within();
        Assert.Equal(CloseReason.FrameTooLarge, badConnection.CloseReason);

        // The raw peer sees its connection end (FIN or reset).
        var sink = new byte[16];
        int read;
        try
        {
            read = await bad.ReceiveAsync(sink.AsMemory()).AsTask().Within();
        }
        catch (SocketException)
        {
            read = 0;
        }

        Assert.Equal(0, read);

        good.Send("still here"u8);
        Assert.Equal("still here"u8.ToArray(), await echoed.Task.Within());
        Assert.Equal(1, server.ConnectionCount);
    }

    [Fact]
    public async Task A_handler_that_throws_closes_only_its_connection_with_reason_application_error()
    {
        var pool = new BufferPool();
        var options = TestSupport.ServerOptions(pool);
        await using var server = new ParleyServer(options);
        server.MessageReceived += (connection, message) =>
        {
            if (message.FirstSpan[0] == (byte)'!')
            {
                throw new InvalidOperationException("boom");
            }

            connection.Send(message);
        };
        var errors = new ConcurrentQueue<Exception>();
        server.Error += (_, ex) => errors.Enqueue(ex);
        var closed = new TaskCompletionSource<Connection>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Disconnected += connection => closed.TrySetResult(connection);
        server.Start();

        await using var victim = new ParleyClient(TestSupport.ClientOptions(server, pool));
        await victim.ConnectAsync().Within();
        victim.Send("!"u8);
        Connection connection = await closed.Task.Within();
        Assert.Equal(CloseReason.ApplicationError, connection.CloseReason);
        Assert.IsType<InvalidOperationException>(connection.CloseException);
    }

    [Fact]
    public async Task Sends_from_many_threads_at_once_lose_nothing_and_keep_each_senders_order()
    {
        const int Threads = 8;
        const int PerThread = 5000;
        var pool = new BufferPool();
        var server = new ParleyServer(TestSupport.ServerOptions(pool));
        var lastSeen = new int[Threads];
        Array.Fill(lastSeen, -1);
        int outOfOrder = 0;
        int total = 0;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        server.MessageReceived += (_, message) =>
        {
            // Handlers for one connection run one at a time: no locking needed here.
            Span<byte> bytes = stackalloc byte[8];
            message.CopyTo(bytes);
            int thread = BinaryPrimitives.ReadInt32LittleEndian(bytes);
            int sequence = BinaryPrimitives.ReadInt32LittleEndian(bytes[4..]);
            if (sequence != lastSeen[thread] + 1)
            {
                outOfOrder++;
            }

            lastSeen[thread] = sequence;
            if (++total == Threads * PerThread)
            {
                done.TrySetResult();
            }
        };
        server.Start();
        await using (server)
        {
            var options = TestSupport.ClientOptions(server, pool);
            options.MaxSendQueueBytes = 16 * 1024 * 1024;
            await using var client = new ParleyClient(options);
            await client.ConnectAsync().Within();
            using var start = new Barrier(Threads);
            Task[] senders = Enumerable.Range(0, Threads).Select(thread => Task.Factory.StartNew(
                () =>
                {
                    Span<byte> payload = stackalloc byte[8];
                    start.SignalAndWait();
                    for (int i = 0; i < PerThread; i++)
                    {
                        BinaryPrimitives.WriteInt32LittleEndian(payload, thread);
                        BinaryPrimitives.WriteInt32LittleEndian(payload[4..], i);
                        Assert.Equal(SendStatus.Queued, client.Send(payload));
                    }
                },
                TaskCreationOptions.LongRunning)).ToArray();
            await Task.WhenAll(senders).Within();
            await done.Task.Within();
        }

        Assert.Equal(Threads * PerThread, total);
        Assert.Equal(0, outOfOrder);
        Assert.All(lastSeen, last => Assert.Equal(PerThread - 1, last));
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task Graceful_shutdown_delivers_everything_that_was_queued()
    {
        const int Count = 20_000;
        var pool = new BufferPool();
        var options = TestSupport.ServerOptions(pool);
        options.MaxSendQueueBytes = 64 * 1024 * 1024;
        var server = new ParleyServer(options);
        var connected = new TaskCompletionSource<Connection>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Connected += connection => connected.TrySetResult(connection);
        server.Start();

        int received = 0;
        int outOfOrder = 0;
        var disconnected = new TaskCompletionSource<Connection>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = new ParleyClient(TestSupport.ClientOptions(server, pool));
        client.MessageReceived += (_, message) =>
        {
            Span<byte> bytes = stackalloc byte[4];
            message.Slice(0, 4).CopyTo(bytes);
            if (BinaryPrimitives.ReadInt32LittleEndian(bytes) != received)
            {
                outOfOrder++;
            }

            received++;
        };
        client.Disconnected += connection => disconnected.TrySetResult(connection);
        await client.ConnectAsync().Within();

        Connection serverSide = await connected.Task.Within();
        byte[] payload = new byte[100];
        for (int i = 0; i < Count; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(payload, i);
            Assert.Equal(SendStatus.Queued, serverSide.Send(payload));
        }

        await server.StopAsync().Within();

        Connection clientSide = await disconnected.Task.Within();
        Assert.Equal(Count, received);
        Assert.Equal(0, outOfOrder);
        Assert.Equal(CloseReason.RemoteClose, clientSide.CloseReason);
        Assert.Equal(CloseReason.ServerShutdown, serverSide.CloseReason);
        Assert.Equal(SendStatus.Closed, serverSide.Send(payload));

        // Stopping twice is harmless.
        await server.StopAsync().Within();
        await server.DisposeAsync();
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task Connections_over_the_limit_are_refused_while_existing_ones_keep_working()
    {
        var pool = new BufferPool();
        var options = TestSupport.ServerOptions(pool);
        options.MaxConnections = 1;
        await using ParleyServer server = await StartEchoServerAsync(options);

        await using var first = new ParleyClient(TestSupport.ClientOptions(server, pool));
        var echoed = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        first.MessageReceived += (_, message) => echoed.TrySetResult(message.ToArray());
        await first.ConnectAsync().Within();
        await TestSupport.Until(() => server.ConnectionCount == 1, "the first client is registered");

        using Socket second = await TestSupport.ConnectRawAsync(server);
        int read;
        try
        {
            read = await second.ReceiveAsync(new byte[8].AsMemory()).AsTask().Within();
        }
        catch (SocketException)
        {
            read = 0;
        }

        Assert.Equal(0, read);
        first.Send("ok"u8);
        Assert.Equal("ok"u8.ToArray(), await echoed.Task.Within());
    }

    [Fact]
    public async Task The_bound_endpoint_is_readable_when_port_zero_is_asked_for_including_ipv6()
    {
        var pool = new BufferPool();
        var options = TestSupport.ServerOptions(pool);
        options.EndPoint = new System.Net.IPEndPoint(System.Net.IPAddress.IPv6Any, 0);
        await using ParleyServer server = await StartEchoServerAsync(options);
        Assert.NotEqual(0, server.LocalEndPoint.Port);

        // Dual mode: an IPv4 client reaches an IPv6-any listener.
        var clientOptions = TestSupport.ClientOptions(server, pool);
        clientOptions.RemoteEndPoint = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, server.LocalEndPoint.Port);
        await using var client = new ParleyClient(clientOptions);
        var echoed = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.MessageReceived += (_, message) => echoed.TrySetResult(message.ToArray());
        await client.ConnectAsync().Within();
        client.Send("v4 to v6"u8);
        Assert.Equal("v4 to v6"u8.ToArray(), await echoed.Task.Within());
    }

    [Fact]
    public async Task Disposing_a_server_or_client_twice_is_harmless()
    {
        var pool = new BufferPool();
        ParleyServer server = await StartEchoServerAsync(TestSupport.ServerOptions(pool));
        var client = new ParleyClient(TestSupport.ClientOptions(server, pool));
        await client.ConnectAsync().Within();
        await client.DisposeAsync();
        await client.DisposeAsync();
        await server.DisposeAsync();
        await server.DisposeAsync();
        Assert.True(server.Stopping.IsCancellationRequested);
        Assert.Equal(0, pool.Outstanding);
    }
}

public class PortSharingTests
{
    [Fact]
    public async Task A_second_server_on_a_port_in_use_fails_with_address_in_use()
    {
        await using var first = new ParleyServer(TestSupport.ServerOptions(new BufferPool()));
        first.Start();
        ParleyServerOptions options = TestSupport.ServerOptions(new BufferPool());
        options.EndPoint = (System.Net.IPEndPoint)first.LocalEndPoint;
        await using var second = new ParleyServer(options);
        var error = Assert.Throws<System.Net.Sockets.SocketException>(second.Start);
        Assert.Equal(System.Net.Sockets.SocketError.AddressAlreadyInUse, error.SocketErrorCode);
    }

    [Fact]
    public async Task Servers_that_ask_to_share_a_port_both_listen_on_it()
    {
        ParleyServerOptions firstOptions = TestSupport.ServerOptions(new BufferPool());
        firstOptions.SharePort = true;
        await using var first = new ParleyServer(firstOptions);
        first.Start();
        ParleyServerOptions options = TestSupport.ServerOptions(new BufferPool());
        options.EndPoint = (System.Net.IPEndPoint)first.LocalEndPoint;
        options.SharePort = true;
        await using var second = new ParleyServer(options);
        second.Start();
        Assert.Equal(first.LocalEndPoint, second.LocalEndPoint);
    }

    [Fact]
    public async Task A_server_restarts_on_its_port_while_old_connections_linger_in_TIME_WAIT()
    {
        System.Net.EndPoint endPoint;
        await using (var first = new ParleyServer(TestSupport.ServerOptions(new BufferPool())))
        {
            first.Start((connection, _) => Task.CompletedTask); // the server closes first: its side goes to TIME_WAIT
            endPoint = first.LocalEndPoint;
            using var peer = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            await peer.ConnectAsync(endPoint).Within();
            Assert.Equal(0, await peer.ReceiveAsync(new byte[16]).Within());
        }

        ParleyServerOptions options = TestSupport.ServerOptions(new BufferPool());
        options.EndPoint = (System.Net.IPEndPoint)endPoint;
        await using var again = new ParleyServer(options);
        again.Start();
        Assert.Equal(endPoint, again.LocalEndPoint);
    }
}
