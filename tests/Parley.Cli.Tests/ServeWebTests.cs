using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using Parley.Chat;
using Parley.WebSockets;

namespace Parley.Cli.Tests;

/// <summary><c>parley serve --web-port</c>: the chat page, its settings and WebSocket sessions that share rooms with TCP ones.</summary>
public sealed class ServeWebTests : IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"parley-web-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }

    /// <summary>A port free a moment ago (the server binds it right after).</summary>
    internal static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private async Task<(ParleyProcess Process, IPEndPoint Tcp, int WebPort)> StartAsync(params string[] extra)
    {
        int webPort = FreePort();
        (ParleyProcess process, IPEndPoint tcp) = await ParleyProcess.StartServeAsync(["--data", _data, "--web-port", webPort.ToString(System.Globalization.CultureInfo.InvariantCulture), .. extra]);
        await process.WaitForLineAsync(@"chat page at http://127\.0\.0\.1:\d+/");
        return (process, tcp, webPort);
    }

    private static ParleyClientOptions WebSocketClient(int port, string? origin = null)
    {
        var options = new WebSocketOptions { MaxMessageSize = ChatProtocol.DefaultMaxEventBytes, MaxOutgoingMessageSize = ChatProtocol.DefaultMaxCommandBytes, Origin = origin };
        return new ParleyClientOptions { Dialer = new WebSocketDialer(new Uri($"ws://127.0.0.1:{port}/ws"), options), Framer = options.CreateFramer(isClient: true) };
    }

    [Fact]
    public async Task The_page_its_script_and_its_settings_are_served()
    {
        (ParleyProcess process, _, int webPort) = await StartAsync("--auth", "required");
        await using (process)
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{webPort}/") };

            using HttpResponseMessage page = await http.GetAsync("/");
            string html = await page.Content.ReadAsStringAsync();
            string config = await http.GetStringAsync("/config.json");
            using HttpResponseMessage script = await http.GetAsync("/chat.js");
            using HttpResponseMessage missing = await http.GetAsync("/nothing-here");

            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
            Assert.Contains("<html", html, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("default-src 'self'", string.Join(' ', page.Headers.GetValues("Content-Security-Policy")), StringComparison.Ordinal);
            Assert.Contains("\"auth\":\"required\"", config, StringComparison.Ordinal);
            Assert.Contains("\"maxMessageBytes\":4096", config, StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.OK, script.StatusCode);
            Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);

            using var conditional = new HttpRequestMessage(HttpMethod.Get, "/");
            conditional.Headers.TryAddWithoutValidation("If-None-Match", page.Headers.ETag!.Tag);
            using HttpResponseMessage notModified = await http.SendAsync(conditional);
            Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        }
    }

    [Fact]
    public async Task WebSocket_and_TCP_users_share_a_room_and_see_each_others_messages_in_order()
    {
        (ParleyProcess process, IPEndPoint tcp, int webPort) = await StartAsync();
        await using (process)
        {
            await using ChatClient browser = await ChatClient.ConnectAsync(WebSocketClient(webPort));
            await using ChatClient terminal = await ChatClient.ConnectAsync(new ParleyClientOptions { RemoteEndPoint = tcp, Framer = ChatProtocol.CreateClientFramer() });
            var seenByBrowser = Channel.CreateUnbounded<ChatMessage>();
            var seenByTerminal = Channel.CreateUnbounded<ChatMessage>();
            browser.MessageReceived += message => seenByBrowser.Writer.TryWrite(message);
            terminal.MessageReceived += message => seenByTerminal.Writer.TryWrite(message);
            await browser.JoinRoomAsync("general");
            await terminal.JoinRoomAsync("general");

            await browser.SendMessageAsync("general", "from the browser ✓");
            await terminal.SendMessageAsync("general", "from the terminal");
            await browser.SendMessageAsync("general", "again from the browser");

            foreach (Channel<ChatMessage> seen in new[] { seenByBrowser, seenByTerminal })
            {
                var texts = new List<string>();
                var ids = new List<long>();
                for (int i = 0; i < 3; i++)
                {
                    ChatMessage message = await seen.Reader.ReadAsync().AsTask().WaitAsync(ParleyProcess.Timeout);
                    texts.Add(message.Content);
                    ids.Add(message.Id);
                }

                Assert.Equal(["from the browser ✓", "from the terminal", "again from the browser"], texts);
                Assert.Equal(ids.Order(), ids);
            }

            HistoryEvent history = await browser.GetHistoryAsync("general");
            Assert.Equal(["from the browser ✓", "from the terminal", "again from the browser"], history.Messages.Select(m => m.Content));
        }
    }

    [Fact]
    public async Task A_page_from_another_origin_is_refused_and_a_listed_one_is_let_in()
    {
        (ParleyProcess process, _, int webPort) = await StartAsync("--allowed-origin", "https://chat.example.com");
        await using (process)
        {
            WebSocketHandshakeException refused = await Assert.ThrowsAsync<WebSocketHandshakeException>(
                () => ChatClient.ConnectAsync(WebSocketClient(webPort, origin: "https://evil.example")));
            Assert.Equal(403, refused.Status);

            await using ChatClient own = await ChatClient.ConnectAsync(WebSocketClient(webPort, origin: $"http://127.0.0.1:{webPort}"));
            await using ChatClient listed = await ChatClient.ConnectAsync(WebSocketClient(webPort, origin: "https://chat.example.com"));
            await own.PingAsync();
            await listed.PingAsync();
        }
    }

    [Fact]
    public async Task A_web_port_in_use_stops_the_server_with_a_clear_error()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;

        await ParleyProcess.AssertRefusesAsync("--web-port; 0 turns the browser front door off", "serve", "--port", "0", "--data", _data, "--web-port", port.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task A_binary_message_is_closed_with_1003_and_other_sessions_go_on()
    {
        (ParleyProcess process, _, int webPort) = await StartAsync();
        await using (process)
        {
            await using ChatClient bystander = await ChatClient.ConnectAsync(WebSocketClient(webPort));
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(IPAddress.Loopback, webPort);
            string key = Convert.ToBase64String(new byte[16]);
            await socket.SendAsync(Encoding.ASCII.GetBytes($"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{webPort}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"));
            await socket.SendAsync(new byte[] { 0x82, 0x81, 1, 2, 3, 4, 0x55 }); // masked binary, one byte

            byte[] received = new byte[8192];
            int length = 0;
            using var deadline = new CancellationTokenSource(ParleyProcess.Timeout);
            while (true)
            {
                int read = await socket.ReceiveAsync(received.AsMemory(length), SocketFlags.None, deadline.Token);
                if (read == 0)
                {
                    break;
                }

                length += read;
            }

            // 101, login_successful (a text frame), then Close 1003.
            string text = Encoding.Latin1.GetString(received, 0, length);
            Assert.StartsWith("HTTP/1.1 101 ", text, StringComparison.Ordinal);
            int close = text.LastIndexOf('\u0088');
            Assert.True(close > 0, text);
            Assert.Equal(1003, (received[close + 2] << 8) | received[close + 3]);
            await bystander.PingAsync();
        }
    }

    [Fact]
    public async Task With_a_certificate_the_page_and_the_socket_are_served_over_TLS()
    {
        string certificate = Path.Combine(Path.GetTempPath(), $"parley-web-{Guid.NewGuid():N}.pfx");
        using (System.Security.Cryptography.X509Certificates.X509Certificate2 made = CertCommand.SelfSigned(["localhost", "127.0.0.1"], days: 1))
        {
            File.WriteAllBytes(certificate, made.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pkcs12));
        }

        try
        {
            int webPort = FreePort();
            (ParleyProcess process, _) = await ParleyProcess.StartServeAsync(["--data", _data, "--web-port", webPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "--tls-cert", certificate]);
            await using (process)
            {
                await process.WaitForLineAsync(@"chat page at https://127\.0\.0\.1:\d+/");
                using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator };
                using var http = new HttpClient(handler);
                Assert.Contains("<html", await http.GetStringAsync(new Uri($"https://127.0.0.1:{webPort}/")), StringComparison.OrdinalIgnoreCase);

                var options = new WebSocketOptions { MaxMessageSize = ChatProtocol.DefaultMaxEventBytes, MaxOutgoingMessageSize = ChatProtocol.DefaultMaxCommandBytes };
                var tls = new TlsClientOptions { AllowUntrustedServerCertificate = true, TargetHost = "localhost" };
                await using ChatClient secure = await ChatClient.ConnectAsync(new ParleyClientOptions
                {
                    Dialer = new WebSocketDialer(new Uri($"wss://127.0.0.1:{webPort}/ws"), options, tls),
                    Framer = options.CreateFramer(isClient: true),
                });
                await secure.JoinRoomAsync("general");
                await secure.SendMessageAsync("general", "over wss");

                // Plain HTTP on the TLS port gets nowhere.
                using var plain = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
                await Assert.ThrowsAnyAsync<Exception>(() => plain.GetStringAsync(new Uri($"http://127.0.0.1:{webPort}/")));
            }
        }
        finally
        {
            File.Delete(certificate);
        }
    }

    [Fact]
    public async Task The_signalr_bench_needs_a_target_and_broadcast_over_WebSocket_runs_against_a_child_echo_server()
    {
        await ParleyProcess.AssertRefusesAsync("--transport signalr needs --target", "bench", "broadcast", "--transport", "signalr");

        await using ParleyProcess bench = ParleyProcess.Start("bench", "broadcast", "--transport", "ws", "--clients", "5", "--duration", "1", "--json");
        Assert.Equal(0, await bench.WaitForExitAsync());
        using System.Text.Json.JsonDocument result = bench.JsonOutput();
        long expected = result.RootElement.GetProperty("expected").GetInt64();
        Assert.True(expected > 0);
        Assert.Equal(expected, result.RootElement.GetProperty("delivered").GetInt64());
    }
}
