using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Sockets;

namespace Parley.Tests;

public class GroupTests
{
    /// <summary>A client that records every message's leading int, in arrival order.</summary>
    private sealed class RecordingClient : IAsyncDisposable
    {
        private readonly ParleyClient _client;

        private RecordingClient(ParleyClient client) => _client = client;

        public List<int> Received { get; } = [];

        public int Count
        {
            get
            {
                lock (Received)
                {
                    return Received.Count;
                }
            }
        }

        public bool HasReceived(int value)
        {
            lock (Received)
            {
                return Received.Contains(value);
            }
        }

        public static async Task<RecordingClient> ConnectAsync(ParleyServer server, BufferPool pool)
        {
            var client = new ParleyClient(TestSupport.ClientOptions(server, pool));
            var recorder = new RecordingClient(client);
            client.MessageReceived += (_, message) =>
            {
                Span<byte> head = stackalloc byte[4];
                message.Slice(0, 4).CopyTo(head);
                lock (recorder.Received)
                {
                    recorder.Received.Add(BinaryPrimitives.ReadInt32LittleEndian(head));
                }
            };
            await client.ConnectAsync().Within();
            return recorder;
        }

        public ValueTask DisposeAsync() => _client.DisposeAsync();
    }

    private static async Task<List<Connection>> WaitForConnectionsAsync(ParleyServer server, int count)
    {
        await TestSupport.Until(() => server.Everyone.Count == count, $"{count} connections are open");
        return [.. server.Connections.OrderBy(c => c.Id)];
    }

    [Fact]
    public async Task A_group_broadcast_reaches_each_member_exactly_once_in_order_and_no_one_else()
    {
        var pool = new BufferPool();
        await using (var server = new ParleyServer(TestSupport.ServerOptions(pool)))
        {
            server.Start();
            var clients = new List<RecordingClient>();
            for (int i = 0; i < 8; i++)
            {
                clients.Add(await RecordingClient.ConnectAsync(server, pool));
            }

            List<Connection> connections = await WaitForConnectionsAsync(server, 8);
            ConnectionGroup room = server.GetOrCreateGroup("room");
            Assert.Same(room, server.GetOrCreateGroup("room"));
            foreach (Connection connection in connections.Take(6))
            {
                Assert.True(room.Add(connection));
                Assert.False(room.Add(connection));
            }

            Assert.Equal(6, room.Count);
            const int Messages = 1000;
            byte[] payload = new byte[100];
            for (int i = 0; i < Messages; i++)
            {
                BinaryPrimitives.WriteInt32LittleEndian(payload, i);
                Assert.Equal(6, room.Broadcast(payload));
            }

            // The members' clients are connected in order of their ids; the first six joined.
            RecordingClient[] members = [.. clients.Take(6)];
            await TestSupport.Until(() => members.All(c => c.Count >= Messages), "every member received every message");
            foreach (RecordingClient member in members)
            {
                Assert.Equal(Enumerable.Range(0, Messages), member.Received);
            }

            // Outsiders got nothing; let one more broadcast go to everyone to be sure nothing was in flight to them.
            BinaryPrimitives.WriteInt32LittleEndian(payload, -1);
            Assert.Equal(8, server.Broadcast(payload));
            await TestSupport.Until(() => clients.All(c => c.HasReceived(-1)), "the server-wide broadcast arrived");
            Assert.Equal([-1], clients[6].Received);
            Assert.Equal([-1], clients[7].Received);

            foreach (RecordingClient client in clients)
            {
                await client.DisposeAsync();
            }
        }

        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task Broadcast_can_exclude_the_sender()
    {
        var pool = new BufferPool();
        await using var server = new ParleyServer(TestSupport.ServerOptions(pool));
        server.MessageReceived += (connection, message) => server.Broadcast(message, except: connection);
        server.Start();
        await using RecordingClient sender = await RecordingClient.ConnectAsync(server, pool);
        await using RecordingClient listener = await RecordingClient.ConnectAsync(server, pool);
        await WaitForConnectionsAsync(server, 2);

        byte[] payload = new byte[8];
        BinaryPrimitives.WriteInt32LittleEndian(payload, 42);
        await using Connection raw = await ParleyClient.OpenConnectionAsync(TestSupport.ClientOptions(server, pool)).Within();
        await WaitForConnectionsAsync(server, 3);
        raw.Send(payload);
        await TestSupport.Until(() => sender.Count == 1 && listener.Count == 1, "both other clients received it");
        Assert.Equal([42], sender.Received);
        Assert.Equal([42], listener.Received);
    }

    [Fact]
    public async Task A_member_that_stops_reading_is_dropped_while_the_others_receive_everything()
    {
        var pool = new BufferPool();
        var options = TestSupport.ServerOptions(pool);
        options.MaxSendQueueBytes = 256 * 1024;
        await using var server = new ParleyServer(options);
        var closed = new ConcurrentQueue<Connection>();
        server.Disconnected += connection => closed.Enqueue(connection);
        server.Start();

        var readers = new List<RecordingClient>();
        for (int i = 0; i < 4; i++)
        {
            readers.Add(await RecordingClient.ConnectAsync(server, pool));
        }

        using var stalled = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await stalled.ConnectAsync(server.LocalEndPoint).Within();
        await WaitForConnectionsAsync(server, 5);

        // Broadcast 20 MB in steps, waiting for the readers between steps: they keep up, the stalled one cannot.
        const int Messages = 20_000;
        byte[] payload = new byte[1000];
        for (int i = 0; i < Messages; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(payload, i);
            server.Broadcast(payload);
            if (i % 100 == 99)
            {
                int sent = i + 1;
                await TestSupport.Until(() => readers.All(r => r.Count >= sent), "the readers caught up");
            }
        }

        Connection dropped = Assert.Single(closed);
        Assert.Equal(CloseReason.SlowConsumer, dropped.CloseReason);
        foreach (RecordingClient reader in readers)
        {
            Assert.Equal(Enumerable.Range(0, Messages), reader.Received);
            await reader.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_broadcast_keeps_one_shared_copy_of_the_message_however_many_members_wait_on_it()
    {
        var pool = new BufferPool();
        var options = TestSupport.ServerOptions(pool);
        options.MaxSendQueueBytes = 8 * 1024 * 1024;
        await using (var server = new ParleyServer(options))
        {
            server.Start();
            const int Members = 20;
            var peers = new List<Socket>();
            for (int i = 0; i < Members; i++)
            {
                var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
                await peer.ConnectAsync(server.LocalEndPoint).Within();
                peers.Add(peer);
            }

            await WaitForConnectionsAsync(server, Members);
            long before = pool.OutstandingBytes;

            // 1 MiB to 20 stalled members: each send blocks part-way, holding the frame.
            server.Broadcast(new byte[1024 * 1024 - 4]);
            long held = pool.OutstandingBytes - before;
            Assert.True(held <= 1024 * 1024, $"{held} bytes held for {Members} members: one shared frame expected");
            Assert.True(held >= 1024 * 1024 - 4, $"{held} bytes: the frame should be held while sends are pending");

            foreach (Socket peer in peers)
            {
                peer.Dispose();
            }
        }

        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task Membership_stays_consistent_under_concurrent_join_leave_and_close()
    {
        var pool = new BufferPool();
        await using var server = new ParleyServer(TestSupport.ServerOptions(pool));
        server.Start();
        const int Clients = 40;
        var clients = new List<Connection>();
        for (int i = 0; i < Clients; i++)
        {
            clients.Add(await ParleyClient.OpenConnectionAsync(TestSupport.ClientOptions(server, pool)).Within());
        }

        List<Connection> connections = await WaitForConnectionsAsync(server, Clients);
        ConnectionGroup[] groups = [server.GetOrCreateGroup("a"), server.GetOrCreateGroup("b"), server.GetOrCreateGroup("c")];
        using var stop = new CancellationTokenSource();
        Task[] churn = Enumerable.Range(0, 4).Select(seed => Task.Run(() =>
        {
            var random = new Random(seed);
            for (int i = 0; i < 20_000; i++)
            {
                Connection connection = connections[random.Next(connections.Count)];
                ConnectionGroup group = groups[random.Next(groups.Length)];
                if (random.Next(2) == 0)
                {
                    group.Add(connection);
                }
                else
                {
                    group.Remove(connection);
                }

                group.Broadcast("x"u8);
            }
        })).ToArray();

        // Close half of the connections while the churn goes on.
        foreach (Connection client in clients.Take(Clients / 2))
        {
            await client.DisposeAsync();
        }

        await Task.WhenAll(churn).Within();
        await TestSupport.Until(() => server.ConnectionCount == Clients / 2, "the closed connections are gone");
        foreach (ConnectionGroup group in groups)
        {
            IReadOnlyList<Connection> members = group.Members;
            Assert.Equal(group.Count, members.Count);
            Assert.All(members, member => Assert.Equal(ConnectionState.Open, member.State));
        }

        Assert.Equal(Clients / 2, server.Everyone.Count);
        foreach (Connection client in clients.Skip(Clients / 2))
        {
            await client.DisposeAsync();
        }
    }
}
