using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Playwright;
using Parley.Cli.Tests;

namespace Parley.Browser.Tests;

/// <summary>
/// The chat page of <c>parley serve</c> in a real browser (headless Chromium through
/// Playwright): two browser users and an <c>nc</c>-style TCP user in one room, history on
/// reload, and a server restart the page rides out without losing or repeating a message.
/// </summary>
public sealed class ChatPageTests : IClassFixture<BrowserFixture>, IDisposable
{
    private static readonly float Patience = 20_000; // ms: Playwright's waits
    private readonly BrowserFixture _browser;
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"parley-browser-{Guid.NewGuid():N}");
    private readonly List<string> _pageErrors = [];

    public ChatPageTests(BrowserFixture browser) => _browser = browser;

    public void Dispose()
    {
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private async Task<ParleyProcess> StartServerAsync(int tcpPort, int webPort, params string[] extra)
    {
        ParleyProcess server = ParleyProcess.Start(["serve", "--port", tcpPort.ToString(CultureInfo.InvariantCulture), "--web-port", webPort.ToString(CultureInfo.InvariantCulture), "--data", _data, .. extra]);
        await server.WaitForLineAsync("chat page at ");
        return server;
    }

    private async Task<IPage> OpenPageAsync(int webPort, ViewportSize? viewport = null)
    {
        IBrowserContext context = await _browser.Browser!.NewContextAsync(new BrowserNewContextOptions { ViewportSize = viewport ?? new ViewportSize { Width = 1200, Height = 800 } });
        IPage page = await context.NewPageAsync();
        page.SetDefaultTimeout(Patience);
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                lock (_pageErrors)
                {
                    _pageErrors.Add(message.Text);
                }
            }
        };
        page.PageError += (_, error) =>
        {
            lock (_pageErrors)
            {
                _pageErrors.Add(error);
            }
        };
        await page.GotoAsync($"http://127.0.0.1:{webPort}/");
        return page;
    }

    private static async Task WaitConnectedAsync(IPage page) =>
        await page.WaitForSelectorAsync("#status[data-state=connected]");

    private static async Task SendAsync(IPage page, string text)
    {
        await page.FillAsync("#message-input", text);
        await page.PressAsync("#message-input", "Enter");
    }

    private static async Task WaitForTextAsync(IPage page, string text) =>
        await page.WaitForFunctionAsync(
            "text => [...document.querySelectorAll('#messages .message .content')].some(e => e.textContent === text)",
            text,
            new PageWaitForFunctionOptions { Timeout = Patience });

    private static async Task<long[]> MessageIdsAsync(IPage page, string room) =>
        (await page.EvaluateAsync<long[]>("room => window.parleyChat.messageIds(room)", room)) ?? [];

    private static async Task<string[]> ContentsAsync(IPage page) =>
        [.. await page.Locator("#messages .message .content").AllTextContentsAsync()];

    private static async Task ScreenshotAsync(IPage page, string name) =>
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.Screenshots, name + ".png"), FullPage = true });

    [Fact]
    public async Task Two_browsers_and_a_TCP_user_chat_in_one_room_and_the_page_survives_a_server_restart()
    {
        if (!_browser.Available)
        {
            return;
        }

        int tcpPort = FreePort();
        int webPort = FreePort();
        ParleyProcess server = await StartServerAsync(tcpPort, webPort);
        try
        {
            IPage alice = await OpenPageAsync(webPort);
            IPage bob = await OpenPageAsync(webPort);
            await WaitConnectedAsync(alice);
            await WaitConnectedAsync(bob);

            // The page joins "general" by itself on first load; the TCP user joins by hand.
            await alice.WaitForSelectorAsync("#rooms [data-room=general].current");
            await bob.WaitForSelectorAsync("#rooms [data-room=general].current");
            await using var terminal = await LineClient.ConnectAsync(tcpPort);
            await terminal.ReadEventAsync("login_successful");
            await terminal.SendAsync("""{"_ct":"join_room","r":"general"}""");
            await terminal.ReadEventAsync("user_joined_room");

            await SendAsync(alice, "hello from alice");
            await WaitForTextAsync(bob, "hello from alice");
            await alice.WaitForSelectorAsync("#messages .message[data-state=sent]");
            JsonElement seen = await terminal.ReadEventAsync("user_message");
            Assert.Equal("hello from alice", seen.GetProperty("c").GetString());

            await terminal.SendAsync("""{"_ct":"send_message","r":"general","c":"hello from the terminal <b>not bold</b>"}""");
            await SendAsync(bob, "hello from bob");
            await WaitForTextAsync(alice, "hello from bob");
            await WaitForTextAsync(alice, "hello from the terminal <b>not bold</b>");
            await WaitForTextAsync(bob, "hello from the terminal <b>not bold</b>");
            Assert.Equal(0, await alice.Locator("#messages b").CountAsync()); // text, never markup

            long[] aliceIds = await MessageIdsAsync(alice, "general");
            Assert.Equal(3, aliceIds.Length);
            Assert.Equal(aliceIds.Order(), aliceIds);
            Assert.Equal(aliceIds, await MessageIdsAsync(bob, "general"));
            await ScreenshotAsync(alice, "1-alice-chatting");

            // Reload: the history is back, in order, once each.
            await bob.ReloadAsync();
            await WaitConnectedAsync(bob);
            await WaitForTextAsync(bob, "hello from bob");
            Assert.Equal(["hello from alice", "hello from the terminal <b>not bold</b>", "hello from bob"], await ContentsAsync(bob));
            await ScreenshotAsync(bob, "2-bob-after-reload");

            // The server stops (SIGTERM) and comes back on the same ports and data. Messages sent
            // while the page is away must appear after it reconnects: no gap, no duplicate.
            server.Terminate();
            Assert.Equal(0, await server.WaitForExitAsync());
            await server.DisposeAsync();
            await alice.WaitForSelectorAsync("#status[data-state=reconnecting]");
            await ScreenshotAsync(alice, "3-alice-reconnecting");
            server = await StartServerAsync(tcpPort, webPort);
            await using (var late = await LineClient.ConnectAsync(tcpPort))
            {
                await late.ReadEventAsync("login_successful");
                await late.SendAsync("""{"_ct":"join_room","r":"general"}""");
                await late.ReadEventAsync("user_joined_room");
                for (int i = 1; i <= 3; i++)
                {
                    await late.SendAsync($$"""{"_ct":"send_message","r":"general","c":"while you were away {{i}}"}""");
                    await late.ReadEventAsync("message_ack");
                }
            }

            await WaitConnectedAsync(alice);
            await WaitForTextAsync(alice, "while you were away 3");
            await SendAsync(alice, "alice is back");
            await WaitForTextAsync(alice, "alice is back");
            await alice.WaitForFunctionAsync("() => document.querySelectorAll('#messages .message[data-state=sending]').length === 0");

            string[] contents = await ContentsAsync(alice);
            Assert.Equal(
                ["hello from alice", "hello from the terminal <b>not bold</b>", "hello from bob", "while you were away 1", "while you were away 2", "while you were away 3", "alice is back"],
                contents);
            long[] ids = await MessageIdsAsync(alice, "general");
            Assert.Equal(7, ids.Distinct().Count());
            Assert.Equal(ids.Order(), ids);
            await ScreenshotAsync(alice, "4-alice-after-restart");

            lock (_pageErrors)
            {
                // A refused WebSocket while the server was down is the browser's own log line; nothing else may appear.
                Assert.DoesNotContain(_pageErrors, error => !error.Contains("WebSocket", StringComparison.Ordinal));
            }
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task The_dashboard_charts_live_figures_pushed_from_the_servers_meters()
    {
        if (!_browser.Available)
        {
            return;
        }

        int tcpPort = FreePort();
        int webPort = FreePort();
        await using ParleyProcess server = await StartServerAsync(tcpPort, webPort);
        IPage chat = await OpenPageAsync(webPort);
        await WaitConnectedAsync(chat);
        IPage dashboard = await _browser.Browser!.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        dashboard.SetDefaultTimeout(Patience);
        await dashboard.GotoAsync($"http://127.0.0.1:{webPort}/dashboard");
        await dashboard.WaitForSelectorAsync("#status[data-state=connected]");

        // Traffic from a TCP user: stored and delivered rise, and it counts as a TCP connection.
        await using var terminal = await LineClient.ConnectAsync(tcpPort);
        await terminal.ReadEventAsync("login_successful");
        await terminal.SendAsync("""{"_ct":"join_room","r":"general"}""");
        await terminal.ReadEventAsync("user_joined_room");
        for (int i = 0; i < 40; i++)
        {
            await terminal.SendAsync($$"""{"_ct":"send_message","r":"general","c":"load {{i}}"}""");
        }

        // Each figure is asked of any sample, not all of one: a commit and its deliveries can fall
        // either side of a sample's boundary (the deliveries follow the commit).
        await dashboard.WaitForFunctionAsync(
            """
            () => {
              const s = window.parleyDashboard.samples();
              return s.some(x => x.stored > 0) && s.some(x => x.delivered > 0) && s.some(x => x.commit_p99 > 0)
                && s.some(x => x.conn.tcp >= 1 && x.conn.ws >= 2) && s.some(x => x.rss > 0);
            }
            """);
        foreach (string chart in new[] { "connections", "stored", "delivered", "slow", "commit", "rss", "cpu" })
        {
            Assert.Equal(1, await dashboard.Locator($"[data-chart={chart}] canvas").CountAsync());
            Assert.False(string.IsNullOrWhiteSpace(await dashboard.Locator($"[data-chart={chart}] .value").TextContentAsync()));
        }

        await ScreenshotAsync(dashboard, "7-dashboard");
        lock (_pageErrors)
        {
            Assert.DoesNotContain(_pageErrors, error => !error.Contains("WebSocket", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task In_a_cluster_the_page_moves_to_another_node_when_its_own_is_killed_and_misses_nothing()
    {
        if (!_browser.Available)
        {
            return;
        }

        await using Parley.Chat.Nats.Tests.NatsServer? nats = await Parley.Chat.Nats.Tests.NatsServer.StartAsync();
        if (nats is null)
        {
            return;
        }

        int aTcp = FreePort(), aWeb = FreePort(), bTcp = FreePort(), bWeb = FreePort();
        ParleyProcess a = await StartServerAsync(aTcp, aWeb, "--cluster", nats.Url, "--node-name", "a");
        await using ParleyProcess b = await StartServerAsync(bTcp, bWeb, "--cluster", nats.Url, "--node-name", "b");
        try
        {
            // a lists b's socket once it has heard b's heartbeat: the page learns it with its settings.
            using (var http = new HttpClient())
            using (var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
            {
                while (!(await http.GetStringAsync($"http://127.0.0.1:{aWeb}/config.json", deadline.Token)).Contains($"ws://127.0.0.1:{bWeb}/ws", StringComparison.Ordinal))
                {
                    await Task.Delay(100, deadline.Token);
                }
            }

            IPage page = await OpenPageAsync(aWeb);
            await WaitConnectedAsync(page);
            await page.WaitForSelectorAsync("#rooms [data-room=general].current"); // joined by itself on first load
            await SendAsync(page, "sent through a");
            await WaitForTextAsync(page, "sent through a");
            await page.WaitForSelectorAsync("#messages .message[data-state=sent]"); // acked before the kill

            a.KillHard();
            await a.WaitForExitAsync();
            await using (var onB = await LineClient.ConnectAsync(bTcp))
            {
                await onB.ReadEventAsync("login_successful");
                await onB.SendAsync("""{"_ct":"join_room","r":"general"}""");
                await onB.ReadEventAsync("user_joined_room");
                await onB.SendAsync("""{"_ct":"send_message","r":"general","c":"said on b while a was down"}""");
                await onB.ReadEventAsync("message_ack");
            }

            // The page reconnects to b by itself, rejoins and fetches what it missed.
            await WaitConnectedAsync(page);
            await WaitForTextAsync(page, "said on b while a was down");
            await SendAsync(page, "sent through b");
            await WaitForTextAsync(page, "sent through b");
            await page.WaitForFunctionAsync("() => document.querySelectorAll('#messages .message[data-state=sending]').length === 0");
            Assert.Equal(["sent through a", "said on b while a was down", "sent through b"], await ContentsAsync(page));
            long[] ids = await MessageIdsAsync(page, "general");
            Assert.Equal([1L, 2L, 3L], ids);
            await ScreenshotAsync(page, "8-cluster-failover");
        }
        finally
        {
            await a.DisposeAsync();
        }
    }

    [Fact]
    public async Task With_auth_required_the_page_asks_for_a_login_and_shows_a_refusal_where_it_happened()
    {
        if (!_browser.Available)
        {
            return;
        }

        await using (ParleyProcess users = ParleyProcess.Start(["users", "add", "carol", "--data", _data]))
        {
            await users.WriteInputAndCloseAsync("correct horse battery\n");
            Assert.Equal(0, await users.WaitForExitAsync());
        }

        int webPort = FreePort();
        await using ParleyProcess server = await StartServerAsync(FreePort(), webPort, "--auth", "required");
        IPage page = await OpenPageAsync(webPort, new ViewportSize { Width = 375, Height = 700 });
        await page.WaitForSelectorAsync("#status[data-state=login]");

        await page.FillAsync("#login-user", "carol");
        await page.FillAsync("#login-password", "wrong password");
        await page.ClickAsync("#login-submit");
        await page.WaitForFunctionAsync("() => document.querySelector('#login-error').textContent.length > 0");
        await ScreenshotAsync(page, "5-phone-login-refused");

        await page.FillAsync("#login-password", "correct horse battery");
        await page.PressAsync("#login-password", "Enter");
        await WaitConnectedAsync(page);
        Assert.Equal("carol", await page.TextContentAsync("#me"));
        await SendAsync(page, "hi from a phone");
        await WaitForTextAsync(page, "hi from a phone");
        await ScreenshotAsync(page, "6-phone-chatting");
    }
}

/// <summary>An <c>nc</c>-style client: JSON lines over TCP.</summary>
internal sealed class LineClient : IAsyncDisposable
{
    private readonly TcpClient _client;
    private readonly StreamReader _reader;
    private readonly Stream _stream;

    private LineClient(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
        _reader = new StreamReader(_stream, Encoding.UTF8);
    }

    public static async Task<LineClient> ConnectAsync(int port)
    {
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        return new LineClient(client);
    }

    public Task SendAsync(string line) => _stream.WriteAsync(Encoding.UTF8.GetBytes(line + "\n")).AsTask();

    /// <summary>Reads lines until an event of type <paramref name="type"/> arrives.</summary>
    public async Task<JsonElement> ReadEventAsync(string type)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (true)
        {
            string? line = await _reader.ReadLineAsync(deadline.Token) ?? throw new EndOfStreamException($"the server closed before {type}");
            JsonElement element = JsonDocument.Parse(line).RootElement;
            if (element.GetProperty("_et").GetString() == type)
            {
                return element;
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        _client.Dispose();
        return default;
    }
}
