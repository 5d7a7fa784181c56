using System.Net.Sockets;
using Parley.Tests;

namespace Parley.WebSockets.Tests;

/// <summary>Peers that stall, trickle, flood or lie (the findings of a hostile review, each pinned).</summary>
public sealed class HostilePeerTests
{
    [Fact]
    public async Task A_peer_that_goes_silent_inside_a_frame_header_is_closed_by_the_idle_timeout()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync(server: options =>
        {
            options.KeepAliveInterval = TimeSpan.FromMilliseconds(50);
            options.IdleTimeout = TimeSpan.FromMilliseconds(300);
        });
        await using RawClient client = await harness.UpgradeAsync();

        await client.SendAsync([0x81]); // one byte of a header, then nothing: no more bytes, no pongs

        Connection closed = await harness.WaitForCloseAsync();
        Assert.Equal(CloseReason.IdleTimeout, closed.CloseReason);
    }

    [Fact]
    public async Task A_fragmented_message_never_finished_is_closed_at_the_incomplete_message_timeout_even_while_the_peer_answers_pings()
    {
        var time = new ManualTime();
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync(options =>
        {
            options.TimeProvider = time;
            options.IncompleteMessageTimeout = TimeSpan.FromSeconds(30);
        });
        await using RawClient client = await harness.UpgradeAsync();

        await client.SendAsync(WebSocketHarness.ClientFrame(1, "the start of"u8, fin: false));
        await client.SendAsync(WebSocketHarness.ClientFrame(10, ReadOnlySpan<byte>.Empty)); // a pong: alive, but not finishing
        await Until(() => time.PendingTimers == 1); // the fragment is gathered; its deadline waits on the clock

        time.Advance(TimeSpan.FromSeconds(31));

        Connection closed = await harness.WaitForCloseAsync();
        Assert.Equal(CloseReason.ProtocolError, closed.CloseReason);
        Assert.Contains("not finished within 30 s", closed.CloseException?.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_fragmented_message_finished_in_time_is_delivered_and_its_deadline_forgotten()
    {
        var time = new ManualTime();
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync(options => options.TimeProvider = time);
        await using RawClient client = await harness.UpgradeAsync();

        await client.SendAsync(WebSocketHarness.ClientFrame(1, "one "u8, fin: false));
        await Until(() => time.PendingTimers == 1);
        time.Advance(TimeSpan.FromSeconds(20)); // two thirds of the deadline, spent waiting for the peer
        await client.SendAsync(WebSocketHarness.ClientFrame(0, "message"u8, fin: true));
        Assert.Equal("one message", (await client.ReadFrameAsync())!.Text);

        time.Advance(TimeSpan.FromSeconds(60));
        await client.SendAsync(WebSocketHarness.ClientFrame(1, "still open"u8));
        Assert.Equal("still open", (await client.ReadFrameAsync())!.Text);
    }

    [Fact]
    public async Task A_peer_that_pings_and_never_reads_is_cut_off_once_a_pong_waits_past_the_timeout()
    {
        // The transport over a peer whose side never takes a byte: the first pong's send never ends.
        var time = new ManualTime();
        var peer = new StalledPeer();
        using var transport = new Internal.WebSocketTransport(peer, isClient: false, new WebSocketOptions { TimeProvider = time, IncompleteMessageTimeout = TimeSpan.FromSeconds(30) });
        byte[] buffer = new byte[4096];

        peer.Deliver(WebSocketHarness.ClientFrame(9, "first"u8));
        Assert.Equal(4, await transport.ReceiveAsync(buffer)); // a keep-alive for liveness; the pong is under way, stuck
        peer.Deliver(WebSocketHarness.ClientFrame(9, "second"u8));
        Assert.Equal(4, await transport.ReceiveAsync(buffer)); // the receive loop is not held up by the stuck pong
        Assert.Equal(1, peer.SendsStarted);

        time.Advance(TimeSpan.FromSeconds(31));
        peer.Deliver(WebSocketHarness.ClientFrame(9, "third"u8));

        InvalidDataException cut = await Assert.ThrowsAsync<InvalidDataException>(async () => await transport.ReceiveAsync(buffer));
        Assert.Contains("does not read the pongs", cut.Message, StringComparison.Ordinal);
        Assert.True(peer.Disposed);
    }

    [Fact]
    public async Task A_fragmented_message_after_the_servers_close_is_read_past_and_the_close_stays_graceful()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync();
        await using RawClient client = await harness.UpgradeAsync();
        await client.SendAsync(WebSocketHarness.ClientFrame(1, "hi"u8));
        Assert.Equal("hi", (await client.ReadFrameAsync())!.Text);
        Connection session = Assert.Single(harness.Sessions.Connections);

        Task closing = session.CloseAsync();
        Assert.Equal(1000, (await client.ReadFrameAsync())!.CloseCode);
        await client.SendAsync([
            .. WebSocketHarness.ClientFrame(1, "in "u8, fin: false),
            .. WebSocketHarness.ClientFrame(0, "flight"u8, fin: true),
            .. WebSocketHarness.CloseFrame(1000)]);

        await closing.WaitAsync(WebSocketHarness.Patience);
        Assert.Equal(CloseReason.LocalClose, session.CloseReason);
        Assert.Null(session.CloseException);
    }

    [Fact]
    public async Task Closing_over_a_peer_that_is_gone_is_not_an_error()
    {
        using var transport = new Internal.WebSocketTransport(new GonePeer(), isClient: false, new WebSocketOptions());

        await transport.ShutdownSendAsync(); // the Close frame's send fails: the peer left; nothing to report
    }

    /// <summary>A peer that reset: every send fails.</summary>
    private sealed class GonePeer : Transport
    {
        public override System.Net.EndPoint? LocalEndPoint => null;

        public override System.Net.EndPoint? RemoteEndPoint => null;

        public override ValueTask<int> ReceiveAsync(Memory<byte> buffer) => ValueTask.FromResult(0);

        public override ValueTask<int> SendAsync(ReadOnlyMemory<byte> buffer) => ValueTask.FromException<int>(new SocketException((int)SocketError.ConnectionReset));

        public override ValueTask ShutdownSendAsync() => ValueTask.FromException(new SocketException((int)SocketError.ConnectionReset));

        public override void Dispose()
        {
        }
    }

    /// <summary>A peer that sends what the test gives it and never reads: every send waits for ever.</summary>
    private sealed class StalledPeer : Transport
    {
        private readonly System.Threading.Channels.Channel<byte[]> _incoming = System.Threading.Channels.Channel.CreateUnbounded<byte[]>();
        private byte[] _pending = [];
        private int _offset;
        private int _sends;

        public int SendsStarted => Volatile.Read(ref _sends);

        public bool Disposed { get; private set; }

        public void Deliver(byte[] bytes) => _incoming.Writer.TryWrite(bytes);

        public override System.Net.EndPoint? LocalEndPoint => null;

        public override System.Net.EndPoint? RemoteEndPoint => null;

        public override async ValueTask<int> ReceiveAsync(Memory<byte> buffer)
        {
            if (_offset == _pending.Length)
            {
                _pending = await _incoming.Reader.ReadAsync();
                _offset = 0;
            }

            if (buffer.IsEmpty)
            {
                return 0;
            }

            int count = Math.Min(buffer.Length, _pending.Length - _offset);
            _pending.AsSpan(_offset, count).CopyTo(buffer.Span);
            _offset += count;
            return count;
        }

        public override async ValueTask<int> SendAsync(ReadOnlyMemory<byte> buffer)
        {
            Interlocked.Increment(ref _sends);
            await Task.Delay(Timeout.Infinite);
            return buffer.Length;
        }

        public override ValueTask ShutdownSendAsync() => default;

        public override void Dispose() => Disposed = true;
    }

    [Theory]
    [InlineData("evil.example:{port}", "http://evil.example:{port}", false)] // DNS rebinding: Host and Origin both the attacker's name
    [InlineData("127.0.0.1:{port}", "http://127.0.0.1:{port}", true)]
    [InlineData("localhost:{port}", "http://localhost:{port}", true)]
    [InlineData("[::1]:{port}", "http://[::1]:{port}", true)]
    [InlineData("127.0.0.1:{port}", "evil://127.0.0.1:{port}", false)]
    [InlineData("127.0.0.1:{port}", "https://127.0.0.1:{port}", true)]
    public async Task Same_origin_counts_only_for_a_server_reached_by_address_or_localhost(string host, string origin, bool allowed)
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync();
        await using RawClient client = await harness.ConnectRawAsync();
        string port = harness.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        string request = $"GET /ws HTTP/1.1\r\nHost: {host.Replace("{port}", port, StringComparison.Ordinal)}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            $"Sec-WebSocket-Key: {WebSocketHarness.NewKey()}\r\nSec-WebSocket-Version: 13\r\nOrigin: {origin.Replace("{port}", port, StringComparison.Ordinal)}\r\n\r\n";

        string response = await client.RequestAsync(request);

        Assert.StartsWith(allowed ? "HTTP/1.1 101 " : "HTTP/1.1 403 ", response, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")]
    [InlineData("Sec-WebSocket-Version: 13\r\n")]
    [InlineData("Origin: http://127.0.0.1\r\nOrigin: https://evil.example\r\n")]
    public async Task Handshake_fields_that_must_appear_once_are_refused_when_repeated(string extra)
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync();
        await using RawClient client = await harness.ConnectRawAsync();

        string response = await client.RequestAsync(WebSocketHarness.HandshakeRequest(harness.EndPoint, extraHeaders: extra));

        Assert.StartsWith("HTTP/1.1 400 ", response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invalid_UTF8_in_a_first_fragment_is_refused_at_once_not_at_the_messages_end()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync();
        await using RawClient client = await harness.UpgradeAsync();

        await client.SendAsync(WebSocketHarness.ClientFrame(1, new byte[] { 0x61, 0xFF }, fin: false));

        Assert.Equal(1007, (await client.ReadFrameAsync())!.CloseCode);
    }

    [Fact]
    public async Task The_HTTP_server_closes_connections_past_the_per_address_limit_at_once()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync(http: options => options.MaxConnectionsPerAddress = 2);
        await using RawClient first = await harness.ConnectRawAsync();
        await using RawClient second = await harness.ConnectRawAsync();
        await Until(() => harness.Http.ConnectionCount == 2);

        await using RawClient third = await harness.ConnectRawAsync();

        Assert.True(await third.ReadEndAsync());
        string response = await first.RequestAsync(WebSocketHarness.HandshakeRequest(harness.EndPoint));
        Assert.StartsWith("HTTP/1.1 101 ", response, StringComparison.Ordinal); // the others are served
    }

    private static async Task Until(Func<bool> condition)
    {
        using var deadline = new CancellationTokenSource(WebSocketHarness.Patience);
        while (!condition())
        {
            await Task.Delay(10, deadline.Token);
        }
    }
}
