using System.Buffers;
using System.Text;
using System.Threading.Channels;

namespace Parley.WebSockets.Tests;

/// <summary>Parley's own WebSocket client (<see cref="WebSocketDialer"/>) against Parley's server.</summary>
public sealed class ClientTests
{
    [Fact]
    public async Task A_client_connection_round_trips_messages_with_masked_frames()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync();
        var options = new WebSocketOptions();
        var received = Channel.CreateUnbounded<string>();
        await using var client = new ParleyClient(new ParleyClientOptions { Dialer = new WebSocketDialer(harness.Uri, options), Framer = options.CreateFramer(isClient: true) });
        client.MessageReceived += (_, message) => received.Writer.TryWrite(Encoding.UTF8.GetString(message.ToArray()));
        await client.ConnectAsync();

        foreach (string text in new[] { "one", new string('m', 500), "drei €" })
        {
            client.Send(Encoding.UTF8.GetBytes(text));
            Assert.Equal(text, await received.Reader.ReadAsync().AsTask().WaitAsync(WebSocketHarness.Patience));
        }
    }

    [Fact]
    public async Task The_client_answers_the_servers_pings_and_stays_connected()
    {
        // The server's clock moves by hand: each step is a keep-alive ping, and the idle timeout
        // (a second) passes several times over; only the client's pongs keep the session open.
        var time = new Parley.Tests.ManualTime();
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync(server: options =>
        {
            options.TimeProvider = time;
            options.KeepAliveInterval = TimeSpan.FromMilliseconds(100);
            options.IdleTimeout = TimeSpan.FromSeconds(1);
        });
        var options = new WebSocketOptions();
        await using var client = new ParleyClient(new ParleyClientOptions { Dialer = new WebSocketDialer(harness.Uri, options), Framer = options.CreateFramer(isClient: true), KeepAliveInterval = Timeout.InfiniteTimeSpan, IdleTimeout = Timeout.InfiniteTimeSpan });
        await client.ConnectAsync();
        Connection session = await WaitForSessionAsync(harness);

        for (int step = 0; step < 40; step++)
        {
            long received = session.BytesReceived;
            time.Advance(TimeSpan.FromMilliseconds(100));
            using var deadline = new CancellationTokenSource(WebSocketHarness.Patience);
            while (session.BytesReceived == received && session.State == ConnectionState.Open)
            {
                await Task.Delay(5, deadline.Token); // the ping goes out, the pong comes back
            }
        }

        Assert.True(session.State == ConnectionState.Open, $"{session.CloseReason} {session.CloseException}");
        Assert.Equal(0, session.MessagesReceived); // pongs are keep-alives, not messages
    }

    [Fact]
    public async Task A_handshake_refused_by_origin_throws_with_the_status()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync();
        var options = new WebSocketOptions { Origin = "https://elsewhere.example" };
        var dialer = new WebSocketDialer(harness.Uri, options);

        WebSocketHandshakeException refused = await Assert.ThrowsAsync<WebSocketHandshakeException>(async () => (await dialer.ConnectAsync()).Dispose());

        Assert.Equal(403, refused.Status);
    }

    [Fact]
    public async Task The_dialer_checks_the_accept_key()
    {
        // A server that answers 101 with a wrong Sec-WebSocket-Accept.
        (int port, Task serve) = ServeOnce(_ => "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n"u8.ToArray(), Task.CompletedTask);
        var dialer = new WebSocketDialer(new Uri($"ws://127.0.0.1:{port}/ws"));

        WebSocketHandshakeException refused = await Assert.ThrowsAsync<WebSocketHandshakeException>(async () => (await dialer.ConnectAsync()).Dispose());

        Assert.Contains("Sec-WebSocket-Accept", refused.Message, StringComparison.Ordinal);
        await serve;
    }

    [Fact]
    public async Task Frames_a_server_sends_with_its_101_are_received_first()
    {
        // A server that answers the handshake and sends its first frame in the same write, then
        // holds the connection until the client has read it.
        var read = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        (int port, Task serve) = ServeOnce(
            request =>
            {
                string key = request.Split("\r\n").First(line => line.StartsWith("Sec-WebSocket-Key:", StringComparison.Ordinal))["Sec-WebSocket-Key:".Length..].Trim();
                byte[] accept = new byte[28];
                Internal.Handshake.ComputeAccept(Encoding.ASCII.GetBytes(key), accept);
                byte[] answer = Encoding.ASCII.GetBytes($"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {Encoding.ASCII.GetString(accept)}\r\n\r\n");
                return [.. answer, 0x81, 5, .. "early"u8];
            },
            read.Task);
        var options = new WebSocketOptions();
        var received = Channel.CreateUnbounded<string>();
        await using var client = new ParleyClient(new ParleyClientOptions { Dialer = new WebSocketDialer(new Uri($"ws://127.0.0.1:{port}/"), options), Framer = options.CreateFramer(isClient: true) });
        client.MessageReceived += (_, message) => received.Writer.TryWrite(Encoding.UTF8.GetString(message.ToArray()));

        await client.ConnectAsync();

        Assert.Equal("early", await received.Reader.ReadAsync().AsTask().WaitAsync(WebSocketHarness.Patience));
        read.SetResult();
        await serve;
    }

    /// <summary>A one-connection server: reads the request, writes what <paramref name="answer"/>
    /// makes of it, and keeps the connection until <paramref name="release"/> completes.</summary>
    private static (int Port, Task Serving) ServeOnce(Func<string, byte[]> answer, Task release)
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        Task serving = Task.Run(async () =>
        {
            try
            {
                using System.Net.Sockets.TcpClient peer = await listener.AcceptTcpClientAsync();
                System.Net.Sockets.NetworkStream stream = peer.GetStream();
                byte[] buffer = new byte[4096];
                int read = await stream.ReadAsync(buffer);
                await stream.WriteAsync(answer(Encoding.ASCII.GetString(buffer, 0, read)));
                await release.WaitAsync(WebSocketHarness.Patience);
            }
            finally
            {
                listener.Stop();
            }
        });
        return (port, serving);
    }

    [Fact]
    public async Task A_broadcast_to_WebSocket_members_is_one_shared_frame()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync();
        var options = new WebSocketOptions();
        var clients = new List<ParleyClient>();
        var received = Channel.CreateUnbounded<string>();
        for (int i = 0; i < 5; i++)
        {
            var client = new ParleyClient(new ParleyClientOptions { Dialer = new WebSocketDialer(harness.Uri, options), Framer = options.CreateFramer(isClient: true) });
            client.MessageReceived += (_, message) => received.Writer.TryWrite(Encoding.UTF8.GetString(message.ToArray()));
            await client.ConnectAsync();
            clients.Add(client);
        }

        using (var deadline = new CancellationTokenSource(WebSocketHarness.Patience))
        {
            while (harness.Sessions.ConnectionCount < 5)
            {
                await Task.Delay(10, deadline.Token);
            }
        }

        ConnectionGroup room = harness.Sessions.GetOrCreateGroup("room");
        foreach (Connection session in harness.Sessions.Connections)
        {
            room.Add(session);
        }

        // Encoded once by the caller, shared by all five send queues.
        Frame frame = harness.Framer.CreateFrame("to everyone"u8, BufferPool.Shared);
        try
        {
            Assert.Equal(5, room.Broadcast(frame));
        }
        finally
        {
            frame.Release();
        }

        for (int i = 0; i < 5; i++)
        {
            Assert.Equal("to everyone", await received.Reader.ReadAsync().AsTask().WaitAsync(WebSocketHarness.Patience));
        }

        foreach (ParleyClient client in clients)
        {
            await client.DisposeAsync();
        }
    }

    private static async Task<Connection> WaitForSessionAsync(WebSocketHarness harness)
    {
        using var deadline = new CancellationTokenSource(WebSocketHarness.Patience);
        while (harness.Sessions.ConnectionCount == 0)
        {
            await Task.Delay(10, deadline.Token);
        }

        return harness.Sessions.Connections[0];
    }
}
