using System.Buffers;
using System.Collections.Concurrent;

namespace Parley.Ipc.Tests;

/// <summary>ParleyServer and ParleyClient over shared memory: the same connection API as over TCP.</summary>
public sealed class TransportTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private readonly string _directory = Directory.CreateTempSubdirectory("parley-ipc-test").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData(IpcWaitStrategy.Hybrid)]
    [InlineData(IpcWaitStrategy.Block)]
    [InlineData(IpcWaitStrategy.Spin)]
    [InlineData(IpcWaitStrategy.Yield)]
    public async Task An_echo_server_and_client_exchange_framed_messages_larger_than_the_ring(IpcWaitStrategy wait)
    {
        var ipc = new IpcOptions { Directory = _directory, RingCapacity = 1 << 14, WaitStrategy = wait };
        var serverOptions = new ParleyServerOptions().Listen(new IpcConnectionListener("echo", ipc));
        await using var server = new ParleyServer(serverOptions);
        server.MessageReceived += static (connection, message) => connection.Send(message);
        var closed = new TaskCompletionSource<CloseReason>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Disconnected += connection => closed.TrySetResult(connection.CloseReason);
        server.Start();

        var replies = new BlockingCollection<byte[]>();
        await using var client = new ParleyClient(new ParleyClientOptions { Dialer = new IpcConnectionDialer("echo", ipc) });
        client.MessageReceived += (_, message) => replies.Add(message.ToArray());
        await client.ConnectAsync().WaitAsync(Timeout);
        Assert.StartsWith("ipc:echo#", client.Connection!.RemoteEndPoint!.ToString());

        int[] sizes = [1, 100, 8_000, 100_000, 300_000, 5];
        var random = new Random(3);
        foreach (int size in sizes)
        {
            byte[] payload = new byte[size];
            random.NextBytes(payload);
            Assert.Equal(SendStatus.Queued, client.Send(payload));
            Assert.True(replies.TryTake(out byte[]? reply, Timeout), $"no reply to {size} bytes");
            Assert.Equal(payload, reply);
        }

        // Many small messages in a burst arrive complete and in order.
        for (int i = 0; i < 10_000; i++)
        {
            client.Send(BitConverter.GetBytes(i));
        }

        for (int i = 0; i < 10_000; i++)
        {
            Assert.True(replies.TryTake(out byte[]? reply, Timeout));
            Assert.Equal(i, BitConverter.ToInt32(reply));
        }

        await client.DisconnectAsync().WaitAsync(Timeout);
        CloseReason reason = await closed.Task.WaitAsync(Timeout);
        Assert.Equal(CloseReason.RemoteClose, reason);
    }

    [Theory]
    [InlineData(IpcWaitStrategy.Spin)]
    [InlineData(IpcWaitStrategy.Yield)]
    [InlineData(IpcWaitStrategy.Hybrid)]
    public async Task A_transport_asleep_in_its_wait_thread_is_woken_by_the_peer_whatever_its_wait_strategy(IpcWaitStrategy wait)
    {
        // A Spin or Yield raw channel never sleeps, so its peer does not wake it; the transport's
        // waits end in a sleeping wait thread, so it must tell the peer to wake it after all.
        var options = new IpcOptions { Directory = _directory, WaitStrategy = wait };
        using IpcListener listener = IpcListener.Listen("wake", options);
        Task<IpcChannel> accept = listener.AcceptAsync();
        IpcChannel clientChannel = await IpcChannel.ConnectAsync("wake", options).WaitAsync(Timeout);
        using IpcChannel server = await accept.WaitAsync(Timeout);
        using var transport = new IpcTransport(clientChannel, options);

        byte[] buffer = new byte[16];
        ValueTask<int> receive = transport.ReceiveAsync(buffer);
        await TestWait.Until(() => clientChannel.GetStatistics().Sleeps > 0, "the transport going to sleep");

        Assert.Equal(4, server.TryWriteBytes("wake"u8));
        Assert.Equal(4, await receive.AsTask().WaitAsync(Timeout));
        Assert.Equal(1, server.GetStatistics().WakeupsSent); // woken by the peer, not by the sleep's one-second safety slice
    }

    [Fact]
    public async Task Stopping_the_server_closes_its_connections_and_frees_the_name()
    {
        var ipc = new IpcOptions { Directory = _directory };
        var server = new ParleyServer(new ParleyServerOptions().Listen(new IpcConnectionListener("stop", ipc)));
        server.Start();
        var closed = new TaskCompletionSource<CloseReason>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = new ParleyClient(new ParleyClientOptions { Dialer = new IpcConnectionDialer("stop", ipc) });
        client.Disconnected += connection => closed.TrySetResult(connection.CloseReason);
        await client.ConnectAsync().WaitAsync(Timeout);
        Assert.True(File.Exists(Path.Combine(_directory, "stop.sock")));

        await server.StopAsync().WaitAsync(Timeout);
        await server.DisposeAsync();
        Assert.Equal(CloseReason.RemoteClose, await closed.Task.WaitAsync(Timeout));
        Assert.False(File.Exists(Path.Combine(_directory, "stop.sock")));

        // The name is free again: a new server takes it at once.
        await using var again = new ParleyServer(new ParleyServerOptions().Listen(new IpcConnectionListener("stop", ipc)));
        again.Start();
    }

    [Fact]
    public async Task A_peer_that_corrupts_the_ring_is_closed_with_a_protocol_error_and_the_server_goes_on()
    {
        var ipc = new IpcOptions { Directory = _directory };
        await using var server = new ParleyServer(new ParleyServerOptions().Listen(new IpcConnectionListener("corrupt", ipc)));
        var closed = new TaskCompletionSource<CloseReason>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Disconnected += connection => closed.TrySetResult(connection.CloseReason);
        server.MessageReceived += static (connection, message) => connection.Send(message);
        server.Start();

        // A raw channel as the client: it writes a record header no honest writer would (wrong lap tag).
        using IpcChannel rogue = await IpcChannel.ConnectAsync("corrupt", ipc).WaitAsync(Timeout);
        rogue.CorruptForTest(ring: 0, offset: 4, value: 7);
        rogue.CorruptForTest(ring: 0, offset: 0, value: 16);
        Assert.Equal(CloseReason.ProtocolError, await closed.Task.WaitAsync(Timeout));

        // Everyone else is unaffected.
        var replies = new BlockingCollection<byte[]>();
        await using var client = new ParleyClient(new ParleyClientOptions { Dialer = new IpcConnectionDialer("corrupt", ipc) });
        client.MessageReceived += (_, message) => replies.Add(message.ToArray());
        await client.ConnectAsync().WaitAsync(Timeout);
        client.Send("still here"u8);
        Assert.True(replies.TryTake(out byte[]? reply, Timeout));
        Assert.Equal("still here"u8.ToArray(), reply);
    }
}

