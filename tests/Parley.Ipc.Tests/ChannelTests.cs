using System.Net.Sockets;

namespace Parley.Ipc.Tests;

/// <summary>Channels between a listener and a client in this process: the real region, futex and rendezvous.</summary>
public sealed class ChannelTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private readonly string _directory = Directory.CreateTempSubdirectory("parley-ipc-test").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private IpcOptions Options(IpcWaitStrategy wait = IpcWaitStrategy.Hybrid, int capacity = 1 << 16) =>
        new() { Directory = _directory, WaitStrategy = wait, RingCapacity = capacity, HandshakeTimeout = TimeSpan.FromSeconds(5) };

    private async Task<(IpcListener Listener, IpcChannel Server, IpcChannel Client)> ConnectAsync(IpcWaitStrategy wait = IpcWaitStrategy.Hybrid, int capacity = 1 << 16)
    {
        IpcListener listener = IpcListener.Listen("test", Options(wait, capacity));
        Task<IpcChannel> accept = listener.AcceptAsync();
        IpcChannel client = await IpcChannel.ConnectAsync("test", Options(wait)).WaitAsync(Timeout);
        IpcChannel server = await accept.WaitAsync(Timeout);
        return (listener, server, client);
    }

    [Theory]
    [InlineData(IpcWaitStrategy.Spin)]
    [InlineData(IpcWaitStrategy.Hybrid)]
    [InlineData(IpcWaitStrategy.Block)]
    [InlineData(IpcWaitStrategy.Yield)]
    public async Task Messages_make_a_round_trip_with_every_wait_strategy(IpcWaitStrategy wait)
    {
        (IpcListener listener, IpcChannel server, IpcChannel client) = await ConnectAsync(wait);
        using (listener)
        using (server)
        using (client)
        {
            Task echo = Task.Factory.StartNew(() =>
            {
                while (server.Read(out ReadOnlySpan<byte> message))
                {
                    server.Write(message);
                }
            }, TaskCreationOptions.LongRunning);

            for (int i = 0; i < 2000; i++)
            {
                client.Write(BitConverter.GetBytes(i));
                Assert.True(client.Read(out ReadOnlySpan<byte> reply));
                Assert.Equal(i, BitConverter.ToInt32(reply));
            }

            client.Dispose();
            await echo.WaitAsync(Timeout); // the server's Read returns false: the peer closed
            Assert.Equal(CloseReason.LocalClose, client.CloseReason);
            Assert.Equal(Environment.ProcessId, server.PeerProcessId);
            if (wait == IpcWaitStrategy.Block)
            {
                Assert.True(server.GetStatistics().Sleeps > 0);
                Assert.True(client.GetStatistics().WakeupsSent > 0);
            }
        }
    }

    [Fact]
    public async Task A_peer_that_closes_is_read_to_the_end_first()
    {
        (IpcListener listener, IpcChannel server, IpcChannel client) = await ConnectAsync();
        using (listener)
        using (server)
        {
            for (int i = 0; i < 100; i++)
            {
                client.Write(BitConverter.GetBytes(i));
            }

            client.Dispose();
            await TestWait.Until(() => server.CloseReason == CloseReason.RemoteClose); // its socket has ended too
            for (int i = 0; i < 100; i++)
            {
                Assert.True(server.Read(out ReadOnlySpan<byte> message));
                Assert.Equal(i, BitConverter.ToInt32(message));
            }

            Assert.False(server.Read(out _));
            IpcException refused = Assert.Throws<IpcException>(() => server.Write([1]));
            Assert.Equal(CloseReason.RemoteClose, refused.Reason);
        }
    }

    [Fact]
    public async Task A_blocked_read_is_woken_by_a_local_close_and_fails_with_the_reason()
    {
        (IpcListener listener, IpcChannel server, IpcChannel client) = await ConnectAsync(IpcWaitStrategy.Block);
        using (listener)
        using (client)
        {
            Task<IpcException> read = Task.Factory.StartNew(() => Assert.Throws<IpcException>(() => server.Read(out _)), TaskCreationOptions.LongRunning);
            await TestWait.Until(() => server.GetStatistics().Sleeps > 0);
            server.Dispose();
            IpcException error = await read.WaitAsync(Timeout);
            Assert.Equal(CloseReason.LocalClose, error.Reason);
        }
    }

    [Fact]
    public async Task A_full_ring_blocks_the_writer_until_the_reader_catches_up()
    {
        (IpcListener listener, IpcChannel server, IpcChannel client) = await ConnectAsync(IpcWaitStrategy.Block, capacity: 4096);
        using (listener)
        using (server)
        using (client)
        {
            byte[] payload = new byte[1000];
            int written = 0;
            while (client.TryWrite(payload))
            {
                written++;
            }

            Task writer = Task.Factory.StartNew(() => client.Write(payload), TaskCreationOptions.LongRunning);
            await TestWait.Until(() => client.GetStatistics().Sleeps > 0);
            Assert.False(writer.IsCompleted);
            for (int i = 0; i <= written; i++)
            {
                Assert.True(server.Read(out _));
            }

            await writer.WaitAsync(Timeout);
        }
    }

    [Fact]
    public async Task A_message_larger_than_half_the_ring_is_refused_with_a_clear_error()
    {
        (IpcListener listener, IpcChannel server, IpcChannel client) = await ConnectAsync(capacity: 4096);
        using (listener)
        using (server)
        using (client)
        {
            Assert.Equal(2040, client.MaxMessageSize);
            ArgumentException error = Assert.Throws<ArgumentException>(() => client.Write(new byte[2041]));
            Assert.Contains("2040", error.Message);
            client.Write(new byte[2040]);
            Assert.True(server.Read(out ReadOnlySpan<byte> message));
            Assert.Equal(2040, message.Length);
        }
    }

    [Fact]
    public async Task A_corrupt_length_in_the_ring_closes_the_channel_with_a_protocol_error()
    {
        (IpcListener listener, IpcChannel server, IpcChannel client) = await ConnectAsync();
        using (listener)
        using (server)
        using (client)
        {
            client.Write([1, 2, 3]);
            server.CorruptForTest(ring: 0, offset: 0, value: uint.MaxValue - 1);
            IpcProtocolException error = Assert.Throws<IpcProtocolException>(() => server.Read(out _));
            Assert.Contains("length", error.Message);
            Assert.Equal(CloseReason.ProtocolError, server.CloseReason);
            await TestWait.Until(() => client.CloseReason == CloseReason.RemoteClose);
        }
    }

    [Fact]
    public async Task The_region_file_is_gone_once_connected_and_the_name_once_the_listener_stops()
    {
        (IpcListener listener, IpcChannel server, IpcChannel client) = await ConnectAsync();
        using (server)
        using (client)
        {
            Assert.Empty(Directory.EnumerateFiles("/dev/shm", $"parley-ipc.test.{Environment.ProcessId}.*"));
            Assert.True(File.Exists(listener.SocketPath));
            listener.Dispose();
            Assert.False(File.Exists(listener.SocketPath));
            client.Write([42]); // the open channel does not need the name
            Assert.True(server.Read(out ReadOnlySpan<byte> message));
            Assert.Equal(42, message[0]);
        }
    }

    [Fact]
    public async Task A_name_in_use_is_refused_and_a_stale_one_is_taken_over()
    {
        using (IpcListener first = IpcListener.Listen("taken", Options()))
        {
            IpcException error = Assert.Throws<IpcException>(() => IpcListener.Listen("taken", Options()));
            Assert.Contains("in use", error.Message);
        }

        // A socket file left behind by a dead server: bound, not listening (connects are refused).
        // The handle is abandoned rather than disposed, because disposing would delete the file.
        string path = Path.Combine(_directory, "stale.sock");
        var dead = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        dead.Bind(new UnixDomainSocketEndPoint(path));
        dead.SafeHandle.SetHandleAsInvalid();

        Assert.True(File.Exists(path));
        using IpcListener listener = IpcListener.Listen("stale", Options());
        Task<IpcChannel> accept = listener.AcceptAsync();
        using IpcChannel client = await IpcChannel.ConnectAsync("stale", Options()).WaitAsync(Timeout);
        using IpcChannel server = await accept.WaitAsync(Timeout);
    }

    [Fact]
    public async Task Connecting_to_a_name_nobody_listens_on_fails_clearly()
    {
        IpcException error = await Assert.ThrowsAsync<IpcException>(() => IpcChannel.ConnectAsync("nobody", Options()));
        Assert.Contains("No IPC server listens on 'nobody'", error.Message);
    }

    [Fact]
    public async Task Clients_beyond_the_limit_are_told_the_server_is_full()
    {
        IpcOptions options = Options();
        options.MaxConnections = 1;
        using IpcListener listener = IpcListener.Listen("full", options);
        Task<IpcChannel> accept = listener.AcceptAsync();
        using IpcChannel first = await IpcChannel.ConnectAsync("full", Options()).WaitAsync(Timeout);
        using IpcChannel server = await accept.WaitAsync(Timeout);
        _ = listener.AcceptAsync();
        IpcException error = await Assert.ThrowsAsync<IpcException>(() => IpcChannel.ConnectAsync("full", Options()).WaitAsync(Timeout));
        Assert.Contains("no room", error.Message);
    }

    [Fact]
    public async Task A_client_that_stalls_its_handshake_holds_up_nobody_else()
    {
        IpcOptions patient = Options();
        patient.HandshakeTimeout = TimeSpan.FromMinutes(5); // the listener would wait this long for the stalled client
        using IpcListener listener = IpcListener.Listen("stall", patient);
        using var stalled = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await stalled.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(listener.SocketPath)); // never confirms

        IpcOptions quick = Options();
        quick.HandshakeTimeout = TimeSpan.FromSeconds(10);
        using IpcChannel client = await IpcChannel.ConnectAsync("stall", quick).WaitAsync(Timeout);
        using IpcChannel server = await listener.AcceptAsync().WaitAsync(Timeout);
        client.Write("after the stalled one"u8);
        Assert.True(server.Read(out ReadOnlySpan<byte> message));
        Assert.Equal("after the stalled one", System.Text.Encoding.UTF8.GetString(message));
    }

    [Fact]
    public async Task A_client_that_answers_the_offer_with_garbage_is_dropped_and_the_next_one_is_served()
    {
        using IpcListener listener = IpcListener.Listen("garbage", Options());
        using var rogue = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await rogue.ConnectAsync(new UnixDomainSocketEndPoint(listener.SocketPath));
        byte[] offer = new byte[26];
        Assert.Equal(26, await rogue.ReceiveAsync(offer).WaitAsync(Timeout)); // the header; the region path follows
        await rogue.SendAsync(new byte[16]); // not the magic
        byte[] rest = new byte[4096];
        while (await rogue.ReceiveAsync(rest).WaitAsync(Timeout) > 0)
        {
            // the path, then the end: the server hung up on it
        }

        using IpcChannel client = await IpcChannel.ConnectAsync("garbage", Options()).WaitAsync(Timeout);
        using IpcChannel server = await listener.AcceptAsync().WaitAsync(Timeout);
        Assert.Equal(Environment.ProcessId, server.PeerProcessId);
        client.Write("served"u8);
        Assert.True(server.Read(out ReadOnlySpan<byte> message));
        Assert.Equal("served", System.Text.Encoding.UTF8.GetString(message));
        Assert.Empty(Directory.EnumerateFiles("/dev/shm", "parley-ipc.garbage.*"));
    }

    [Fact]
    public async Task A_server_that_does_not_speak_the_protocol_is_a_clear_error()
    {
        string path = Path.Combine(_directory, "impostor.sock");
        using var impostor = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        impostor.Bind(new UnixDomainSocketEndPoint(path));
        impostor.Listen(1);
        Task<IpcChannel> connect = IpcChannel.ConnectAsync("impostor", Options());
        using Socket accepted = await impostor.AcceptAsync().WaitAsync(Timeout);
        await accepted.SendAsync("HTTP/1.1 400 Bad Request\r\n\r\n"u8.ToArray());
        IpcException error = await Assert.ThrowsAsync<IpcException>(() => connect.WaitAsync(Timeout));
        Assert.Contains("does not speak Parley IPC", error.Message);
    }

    [Fact]
    public async Task Accept_after_the_listener_stops_fails_and_a_finished_handshake_nobody_accepted_is_closed()
    {
        IpcListener listener = IpcListener.Listen("stop", Options());
        using IpcChannel client = await IpcChannel.ConnectAsync("stop", Options()).WaitAsync(Timeout);
        listener.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => listener.AcceptAsync());
        Assert.False(client.Read(out _)); // the server side was closed on purpose: end of stream
        await TestWait.Until(() => client.CloseReason != CloseReason.None); // the rendezvous socket's end follows the flag
        Assert.Equal(CloseReason.RemoteClose, client.CloseReason);
    }

    [Theory]
    [InlineData("")]
    [InlineData(".hidden")]
    [InlineData("a/b")]
    [InlineData("name with spaces")]
    public void Names_that_are_not_plain_file_names_are_refused(string name)
    {
        Assert.Throws<ArgumentException>(() => IpcListener.Listen(name, Options()));
    }
}
