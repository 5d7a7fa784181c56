using System.Text;

namespace Parley.WebSockets.Tests;

/// <summary>RFC 6455 framing on real sockets, against a server that echoes each message.</summary>
public sealed class FrameTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(125)]
    [InlineData(126)] // the 16-bit length form
    [InlineData(1000)]
    public async Task A_masked_text_message_is_echoed_in_one_unmasked_text_frame(int length)
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync();
        await using RawClient client = await harness.UpgradeAsync();
        string text = new('é', length / 2);
        text += new string('a', length - Encoding.UTF8.GetByteCount(text));

        await client.SendAsync(WebSocketHarness.ClientFrame(1, Encoding.UTF8.GetBytes(text)));
        ServerFrame echo = (await client.ReadFrameAsync())!;

        Assert.True(echo.Fin);
        Assert.Equal(1, echo.Opcode);
        Assert.False(echo.Masked);
        Assert.Equal(text, echo.Text);
    }

    [Fact]
    public async Task A_64_bit_length_frame_up_to_the_limit_is_accepted()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync(options => options.MaxMessageSize = 100_000);
        await using RawClient client = await harness.UpgradeAsync();
        byte[] payload = Encoding.ASCII.GetBytes(new string('z', 100_000));

        await client.SendAsync(WebSocketHarness.ClientFrame(1, payload));
        ServerFrame echo = (await client.ReadFrameAsync())!;

        Assert.Equal(payload, echo.Payload);
    }

    [Fact]
    public async Task Frames_sent_one_byte_at_a_time_are_reassembled()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync();
        await using RawClient client = await harness.UpgradeAsync();
        byte[] frames = [.. WebSocketHarness.ClientFrame(1, "first"u8), .. WebSocketHarness.ClientFrame(1, Encoding.UTF8.GetBytes(new string('x', 300))), .. WebSocketHarness.ClientFrame(1, "€ split"u8)];

        foreach (byte b in frames)
        {
            await client.SendAsync([b]);
        }

        Assert.Equal("first", (await client.ReadFrameAsync())!.Text);
        Assert.Equal(new string('x', 300), (await client.ReadFrameAsync())!.Text);
        Assert.Equal("€ split", (await client.ReadFrameAsync())!.Text);
    }

    [Fact]
    public async Task Frames_sent_with_the_handshake_in_one_packet_are_read()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync();
        await using RawClient client = await harness.ConnectRawAsync();
        byte[] request = Encoding.ASCII.GetBytes(WebSocketHarness.HandshakeRequest(harness.EndPoint));

        await client.SendAsync([.. request, .. WebSocketHarness.ClientFrame(1, "eager"u8)]);
        string response = await client.RequestAsync("");

        Assert.StartsWith("HTTP/1.1 101 ", response, StringComparison.Ordinal);
        Assert.Equal("eager", (await client.ReadFrameAsync())!.Text);
    }

    [Fact]
    public async Task A_fragmented_message_with_pings_between_its_fragments_is_delivered_whole_and_each_ping_answered()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync();
        await using RawClient client = await harness.UpgradeAsync();

        // "héllo wörld" split inside both two-byte characters.
        byte[] text = Encoding.UTF8.GetBytes("héllo wörld");
        await client.SendAsync(WebSocketHarness.ClientFrame(1, text.AsSpan(0, 2), fin: false));
        await client.SendAsync(WebSocketHarness.ClientFrame(9, "p1"u8));
        ServerFrame pong1 = (await client.ReadFrameAsync())!;
        await client.SendAsync(WebSocketHarness.ClientFrame(0, text.AsSpan(2, 7), fin: false));
        await client.SendAsync(WebSocketHarness.ClientFrame(9, "p2"u8));
        await client.SendAsync(WebSocketHarness.ClientFrame(0, text.AsSpan(9), fin: true));

        ServerFrame pong2 = (await client.ReadFrameAsync())!;
        ServerFrame message = (await client.ReadFrameAsync())!;

        Assert.Equal((10, "p1"), (pong1.Opcode, pong1.Text));
        Assert.Equal((10, "p2"), (pong2.Opcode, pong2.Text));
        Assert.Equal((1, "héllo wörld"), (message.Opcode, message.Text));
    }

    [Fact]
    public async Task An_unmasked_client_frame_is_closed_with_1002()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync();
        await using RawClient client = await harness.UpgradeAsync();

        await client.SendAsync(WebSocketHarness.ClientFrame(1, "bare"u8, masked: false));

        ServerFrame close = (await client.ReadFrameAsync())!;
        Assert.Equal((8, 1002), (close.Opcode, close.CloseCode));
        Assert.True(await client.ReadEndAsync());
        Connection closed = await harness.WaitForCloseAsync();
        Assert.Equal(CloseReason.ProtocolError, closed.CloseReason);
        Assert.IsType<WebSocketProtocolException>(closed.CloseException?.InnerException);
    }

    [Theory]
    [InlineData(new byte[] { 0xC3, 0x28 })] // a bad continuation
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 })] // a surrogate
    [InlineData(new byte[] { 0xF4, 0x90, 0x80, 0x80 })] // past U+10FFFF
    [InlineData(new byte[] { 0x61, 0xE2, 0x82 })] // ends inside a code point
    [InlineData(new byte[] { 0xC0, 0xAF })] // overlong
    public async Task Text_that_is_not_UTF8_is_closed_with_1007(byte[] payload)
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync();
        await using RawClient client = await harness.UpgradeAsync();

        await client.SendAsync(WebSocketHarness.ClientFrame(1, payload));

        ServerFrame close = (await client.ReadFrameAsync())!;
        Assert.Equal((8, 1007), (close.Opcode, close.CloseCode));
        Assert.Equal(CloseReason.ProtocolError, (await harness.WaitForCloseAsync()).CloseReason);
    }

    [Fact]
    public async Task Invalid_UTF8_across_fragments_is_closed_with_1007()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync();
        await using RawClient client = await harness.UpgradeAsync();

        await client.SendAsync(WebSocketHarness.ClientFrame(1, new byte[] { 0x61, 0xE2 }, fin: false));
        await client.SendAsync(WebSocketHarness.ClientFrame(0, new byte[] { 0x28, 0x61 }, fin: true));

        Assert.Equal(1007, (await client.ReadFrameAsync())!.CloseCode);
    }

    [Fact]
    public async Task Binary_messages_are_echoed_as_the_framers_kind_and_refused_with_1003_when_not_accepted()
    {
        await using (WebSocketHarness harness = await WebSocketHarness.StartAsync(options => options.MessageType = WebSocketMessageType.Binary))
        await using (RawClient client = await harness.UpgradeAsync())
        {
            await client.SendAsync(WebSocketHarness.ClientFrame(2, new byte[] { 0xFF, 0x00, 0xC3 }));
            ServerFrame echo = (await client.ReadFrameAsync())!;
            Assert.Equal((byte)2, echo.Opcode);
            Assert.Equal(new byte[] { 0xFF, 0x00, 0xC3 }, echo.Payload);
        }

        await using (WebSocketHarness harness = await WebSocketHarness.StartAsync(options => options.AcceptBinary = false))
        await using (RawClient client = await harness.UpgradeAsync())
        {
            await client.SendAsync(WebSocketHarness.ClientFrame(2, new byte[] { 1 }));
            Assert.Equal(1003, (await client.ReadFrameAsync())!.CloseCode);
        }
    }

    [Fact]
    public async Task A_message_over_the_limit_is_closed_with_1009_as_soon_as_its_header_says_so()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync(options => options.MaxMessageSize = 1024);
        await using RawClient client = await harness.UpgradeAsync();

        // Only the header of a 1 GiB frame: the answer cannot wait for its payload.
        byte[] header = [0x81, 0xFF, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4];
        await client.SendAsync(header);

        Assert.Equal(1009, (await client.ReadFrameAsync())!.CloseCode);
        Assert.Equal(CloseReason.ProtocolError, (await harness.WaitForCloseAsync()).CloseReason);
    }

    [Fact]
    public async Task Fragments_that_together_pass_the_limit_are_closed_with_1009()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync(options => options.MaxMessageSize = 1024);
        await using RawClient client = await harness.UpgradeAsync();

        await client.SendAsync(WebSocketHarness.ClientFrame(1, new byte[600], fin: false));
        await client.SendAsync(WebSocketHarness.ClientFrame(0, new byte[600], fin: true));

        Assert.Equal(1009, (await client.ReadFrameAsync())!.CloseCode);
    }

    [Fact]
    public async Task A_message_exactly_at_the_limit_in_fragments_is_delivered()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync(options => options.MaxMessageSize = 1024);
        await using RawClient client = await harness.UpgradeAsync();

        await client.SendAsync(WebSocketHarness.ClientFrame(1, Encoding.ASCII.GetBytes(new string('a', 1000)), fin: false));
        await client.SendAsync(WebSocketHarness.ClientFrame(0, Encoding.ASCII.GetBytes(new string('b', 24)), fin: true));

        Assert.Equal(new string('a', 1000) + new string('b', 24), (await client.ReadFrameAsync())!.Text);
    }

    [Theory]
    [InlineData(0x70, 1, "reserved bits")]
    [InlineData(0x00, 3, "reserved opcode")]
    [InlineData(0x00, 0x0B, "reserved control opcode")]
    public async Task Reserved_bits_and_opcodes_are_closed_with_1002(byte rsv, byte opcode, string what)
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync();
        await using RawClient client = await harness.UpgradeAsync();

        await client.SendAsync(WebSocketHarness.ClientFrame(opcode, "x"u8, rsv: rsv));

        Assert.True(1002 == (await client.ReadFrameAsync())!.CloseCode, what);
    }

    [Fact]
    public async Task Control_frames_that_are_fragmented_or_too_long_and_stray_continuations_are_closed_with_1002()
    {
        byte[][] cases =
        [
            WebSocketHarness.ClientFrame(9, "x"u8, fin: false),
            WebSocketHarness.ClientFrame(9, new byte[126]),
            WebSocketHarness.ClientFrame(0, "orphan"u8),
            [.. WebSocketHarness.ClientFrame(1, "a"u8, fin: false), .. WebSocketHarness.ClientFrame(1, "b"u8)],
        ];
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync();
        foreach (byte[] bad in cases)
        {
            await using RawClient client = await harness.UpgradeAsync();
            await client.SendAsync(bad);
            Assert.Equal(1002, (await client.ReadFrameAsync())!.CloseCode);
        }
    }

    [Fact]
    public async Task The_peers_close_is_echoed_and_the_connection_ends_as_a_remote_close()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync();
        await using RawClient client = await harness.UpgradeAsync();
        await client.SendAsync(WebSocketHarness.ClientFrame(1, "before"u8));
        Assert.Equal("before", (await client.ReadFrameAsync())!.Text);

        await client.SendAsync(WebSocketHarness.CloseFrame(4001, "bye"));

        ServerFrame close = (await client.ReadFrameAsync())!;
        Assert.Equal((8, 4001), (close.Opcode, close.CloseCode));
        Assert.True(await client.ReadEndAsync()); // the server closes TCP after the handshake
        Assert.Equal(CloseReason.RemoteClose, (await harness.WaitForCloseAsync()).CloseReason);
    }

    [Theory]
    [InlineData(999)]
    [InlineData(1004)]
    [InlineData(1005)]
    [InlineData(1006)]
    [InlineData(2000)]
    [InlineData(5000)]
    public async Task A_close_with_a_code_no_peer_may_send_is_answered_with_1002(int code)
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync();
        await using RawClient client = await harness.UpgradeAsync();

        await client.SendAsync(WebSocketHarness.CloseFrame(code));

        Assert.Equal(1002, (await client.ReadFrameAsync())!.CloseCode);
    }

    [Fact]
    public async Task A_close_with_a_one_byte_body_or_a_reason_that_is_not_UTF8_is_refused()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync();
        await using (RawClient client = await harness.UpgradeAsync())
        {
            await client.SendAsync(WebSocketHarness.ClientFrame(8, new byte[] { 3 }));
            Assert.Equal(1002, (await client.ReadFrameAsync())!.CloseCode);
        }

        await using (RawClient client = await harness.UpgradeAsync())
        {
            await client.SendAsync(WebSocketHarness.ClientFrame(8, new byte[] { 3, 0xE8, 0xFF, 0xFE }));
            Assert.Equal(1007, (await client.ReadFrameAsync())!.CloseCode);
        }
    }

    [Fact]
    public async Task An_empty_close_is_answered_with_an_empty_close()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync();
        await using RawClient client = await harness.UpgradeAsync();

        await client.SendAsync(WebSocketHarness.ClientFrame(8, ReadOnlySpan<byte>.Empty));

        ServerFrame close = (await client.ReadFrameAsync())!;
        Assert.Equal((8, 0), (close.Opcode, close.Payload.Length));
    }

    [Fact]
    public async Task A_server_close_sends_1000_and_a_peer_that_never_answers_is_cut_off_at_the_close_timeout()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync(server: options => options.CloseTimeout = TimeSpan.FromMilliseconds(300));
        await using RawClient client = await harness.UpgradeAsync();
        await client.SendAsync(WebSocketHarness.ClientFrame(1, "hi"u8));
        Assert.Equal("hi", (await client.ReadFrameAsync())!.Text);
        Connection session = Assert.Single(harness.Sessions.Connections);

        Task closing = session.CloseAsync();

        ServerFrame close = (await client.ReadFrameAsync())!;
        Assert.Equal((8, 1000), (close.Opcode, close.CloseCode));
        await closing.WaitAsync(WebSocketHarness.Patience); // the client never answered: the deadline ended it
        Assert.Equal(CloseReason.LocalClose, session.CloseReason);
    }

    [Fact]
    public async Task Data_after_the_servers_close_is_dropped_and_the_peers_close_ends_it()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync();
        await using RawClient client = await harness.UpgradeAsync();
        await client.SendAsync(WebSocketHarness.ClientFrame(1, "hi"u8));
        Assert.Equal("hi", (await client.ReadFrameAsync())!.Text);
        Connection session = Assert.Single(harness.Sessions.Connections);
        var received = new List<string>();

        Task closing = session.CloseAsync();
        Assert.Equal(1000, (await client.ReadFrameAsync())!.CloseCode);
        await client.SendAsync([.. WebSocketHarness.ClientFrame(1, "late"u8), .. WebSocketHarness.CloseFrame(1000)]);

        await closing.WaitAsync(WebSocketHarness.Patience);
        Assert.True(await client.ReadEndAsync()); // no echo of "late", no second close
        Assert.Equal(CloseReason.LocalClose, session.CloseReason);
    }

    [Fact]
    public async Task A_server_keep_alive_is_an_empty_ping_and_the_pong_keeps_the_connection_alive()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync(server: options =>
        {
            options.KeepAliveInterval = TimeSpan.FromMilliseconds(50);
            options.IdleTimeout = TimeSpan.FromSeconds(30);
        });
        await using RawClient client = await harness.UpgradeAsync();

        ServerFrame ping = (await client.ReadFrameAsync())!;
        await client.SendAsync(WebSocketHarness.ClientFrame(10, ReadOnlySpan<byte>.Empty));
        await client.SendAsync(WebSocketHarness.ClientFrame(1, "still here"u8));

        Assert.Equal((9, 0), (ping.Opcode, ping.Payload.Length));
        ServerFrame next;
        do
        {
            next = (await client.ReadFrameAsync())!;
        }
        while (next.Opcode == 9);

        Assert.Equal("still here", next.Text);
    }

    [Fact]
    public async Task A_server_that_stops_says_1001_going_away()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync();
        await using RawClient client = await harness.UpgradeAsync();
        await client.SendAsync(WebSocketHarness.ClientFrame(1, "hi"u8));
        Assert.Equal("hi", (await client.ReadFrameAsync())!.Text);

        Task stopping = harness.Sessions.StopAsync();
        ServerFrame close = (await client.ReadFrameAsync())!;
        await client.SendAsync(WebSocketHarness.CloseFrame(1001));
        await stopping.WaitAsync(WebSocketHarness.Patience);

        Assert.Equal((8, 1001), (close.Opcode, close.CloseCode));
    }

    [Fact]
    public async Task An_application_that_ends_a_peer_for_breaking_its_protocol_says_1008()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync();
        await using RawClient client = await harness.UpgradeAsync();
        await client.SendAsync(WebSocketHarness.ClientFrame(1, "hi"u8));
        Assert.Equal("hi", (await client.ReadFrameAsync())!.Text);
        Connection session = Assert.Single(harness.Sessions.Connections);

        Task closing = session.CloseAsync(CloseReason.ProtocolError);

        Assert.Equal(1008, (await client.ReadFrameAsync())!.CloseCode);
        await client.SendAsync(WebSocketHarness.CloseFrame(1008));
        await closing.WaitAsync(WebSocketHarness.Patience);
    }
}
