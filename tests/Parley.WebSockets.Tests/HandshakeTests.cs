using System.Security.Cryptography;
using System.Text;

namespace Parley.WebSockets.Tests;

public sealed class HandshakeTests
{
    [Fact]
    public async Task A_valid_request_gets_101_with_the_accept_key_of_RFC_6455()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync();
        await using RawClient client = await harness.ConnectRawAsync();

        // The example of RFC 6455, section 1.3.
        string response = await client.RequestAsync(WebSocketHarness.HandshakeRequest(harness.EndPoint, key: "dGhlIHNhbXBsZSBub25jZQ=="));

        Assert.StartsWith("HTTP/1.1 101 Switching Protocols\r\n", response, StringComparison.Ordinal);
        Assert.Contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", response, StringComparison.Ordinal);
        Assert.Contains("\r\nUpgrade: websocket\r\n", response, StringComparison.Ordinal);
        Assert.Contains("\r\nConnection: Upgrade\r\n", response, StringComparison.Ordinal);
        Assert.DoesNotContain("Content-Length", response, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, "13", 400)] // missing key
    [InlineData("not-base64!", "13", 400)]
    [InlineData("AAAAAAAAAAAAAAAAAAAA", "13", 400)] // base64 of 15 bytes
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAA", "13", 400)] // base64 of 21 bytes
    [InlineData("dGhlIHNhbXBsZSBub25jZQ==", "8", 426)]
    [InlineData("dGhlIHNhbXBsZSBub25jZQ==", "", 426)]
    public async Task A_bad_key_or_version_is_refused_and_the_connection_stays_HTTP(string? key, string version, int status)
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync();
        await using RawClient client = await harness.ConnectRawAsync();
        string request = key is null
            ? $"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: {version}\r\n\r\n"
            : WebSocketHarness.HandshakeRequest(harness.EndPoint, key: key, version: version);

        string response = await client.RequestAsync(request);

        Assert.StartsWith($"HTTP/1.1 {status} ", response, StringComparison.Ordinal);
        if (status == 426)
        {
            Assert.Contains("\r\nSec-WebSocket-Version: 13\r\n", response, StringComparison.Ordinal);
        }

        // Still an HTTP connection: a good handshake on it now succeeds.
        string second = await client.RequestAsync(WebSocketHarness.HandshakeRequest(harness.EndPoint));
        Assert.StartsWith("HTTP/1.1 101 ", second, StringComparison.Ordinal);
        await client.SendAsync(WebSocketHarness.ClientFrame(1, "after"u8));
        Assert.Equal("after", (await client.ReadFrameAsync())!.Text);
    }

    [Fact]
    public async Task A_plain_GET_without_upgrade_gets_426_and_POST_gets_405()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync();
        await using RawClient client = await harness.ConnectRawAsync();

        string plain = await client.RequestAsync(WebSocketHarness.HandshakeRequest(harness.EndPoint, upgrade: false));
        string post = await client.RequestAsync(WebSocketHarness.HandshakeRequest(harness.EndPoint, method: "POST"));

        Assert.StartsWith("HTTP/1.1 426 ", plain, StringComparison.Ordinal);
        Assert.Contains("\r\nUpgrade: websocket\r\n", plain, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 405 ", post, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_handshake_with_a_body_is_refused()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync();
        await using RawClient client = await harness.ConnectRawAsync();

        string response = await client.RequestAsync(WebSocketHarness.HandshakeRequest(harness.EndPoint, extraHeaders: "Content-Length: 3\r\n") + "abc");

        Assert.StartsWith("HTTP/1.1 400 ", response, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https://evil.example", false)]
    [InlineData("null", false)]
    [InlineData("http://127.0.0.1:{port}", true)] // the server's own page
    [InlineData("https://chat.example.com", true)] // listed
    [InlineData("HTTPS://CHAT.EXAMPLE.COM", true)]
    [InlineData("https://chat.example.com.evil.example", false)]
    public async Task Origins_other_than_the_servers_own_and_the_listed_ones_get_403(string origin, bool allowed)
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync(options => options.AllowedOrigins.Add("https://chat.example.com"));
        await using RawClient client = await harness.ConnectRawAsync();
        string header = $"Origin: {origin.Replace("{port}", harness.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)}\r\n";

        string response = await client.RequestAsync(WebSocketHarness.HandshakeRequest(harness.EndPoint, extraHeaders: header));

        Assert.StartsWith(allowed ? "HTTP/1.1 101 " : "HTTP/1.1 403 ", response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_star_allows_any_origin()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync(options => options.AllowedOrigins.Add("*"));
        await using RawClient client = await harness.ConnectRawAsync();

        string response = await client.RequestAsync(WebSocketHarness.HandshakeRequest(harness.EndPoint, extraHeaders: "Origin: https://anywhere.example\r\n"));

        Assert.StartsWith("HTTP/1.1 101 ", response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_first_subprotocol_the_server_speaks_among_those_offered_is_chosen()
    {
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync(options =>
        {
            options.SubProtocols.Add("parley.chat.v2");
            options.SubProtocols.Add("parley.chat.v1");
        });
        await using RawClient client = await harness.ConnectRawAsync();

        string response = await client.RequestAsync(WebSocketHarness.HandshakeRequest(harness.EndPoint, extraHeaders: "Sec-WebSocket-Protocol: other, parley.chat.v1\r\nSec-WebSocket-Protocol: parley.chat.v2\r\n"));

        Assert.Contains("\r\nSec-WebSocket-Protocol: parley.chat.v2\r\n", response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Upgrades_past_the_pending_limit_get_503_until_the_server_accepts()
    {
        // A listener no Parley server accepts from: upgraded connections wait in its queue.
        var options = new WebSocketOptions { MaxPendingConnections = 2 };
        using var listener = new WebSocketListener(options);
        var httpOptions = new Http.HttpServerOptions();
        httpOptions.Listen(new SocketConnectionListener(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0)));
        httpOptions.Map("/ws", listener.Handler);
        await using var http = new Http.HttpServer(httpOptions);
        await http.StartAsync();
        var endPoint = (System.Net.IPEndPoint)http.EndPoints[0]!;

        var responses = new List<string>();
        var clients = new List<RawClient>();
        for (int i = 0; i < 3; i++)
        {
            var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            await socket.ConnectAsync(endPoint);
            var client = new RawClient(socket);
            clients.Add(client);
            responses.Add(await client.RequestAsync(WebSocketHarness.HandshakeRequest(endPoint)));
        }

        Assert.StartsWith("HTTP/1.1 101 ", responses[0], StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 101 ", responses[1], StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 503 ", responses[2], StringComparison.Ordinal);
        Assert.Equal(2, listener.PendingCount);

        using (Transport accepted = await listener.AcceptAsync())
        {
            Assert.Equal(1, listener.PendingCount);
        }

        string again = await clients[2].RequestAsync(WebSocketHarness.HandshakeRequest(endPoint));
        Assert.StartsWith("HTTP/1.1 101 ", again, StringComparison.Ordinal);
        foreach (RawClient client in clients)
        {
            await client.DisposeAsync();
        }
    }

    [Fact]
    public void The_accept_key_is_SHA1_of_the_key_and_the_GUID_in_base64()
    {
        Span<byte> accept = stackalloc byte[28];
        int length = Internal.Handshake.ComputeAccept("x3JJHMbDL1EzLkh9GBhXDw=="u8, accept);
#pragma warning disable CA5350
        string expected = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes("x3JJHMbDL1EzLkh9GBhXDw==258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
#pragma warning restore CA5350
        Assert.Equal("HSmrc0sMlYUkAGmm5OPpG2HaGWk=", expected);
        Assert.Equal(expected, Encoding.ASCII.GetString(accept[..length]));
    }
}
