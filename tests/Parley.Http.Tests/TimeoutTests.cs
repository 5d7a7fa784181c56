using System.Text;
using Parley.Tests;
using static Parley.Http.Tests.StaticServingTests;

namespace Parley.Http.Tests;

/// <summary>The heartbeat's timeouts, on a clock the test moves.</summary>
public class TimeoutTests
{
    [Fact]
    public async Task A_head_not_complete_in_time_gets_408_and_the_connection_closes()
    {
        var time = new ManualTime();
        await using HttpHarness http = await HttpHarness.StartAsync(o => { o.TimeProvider = time; o.RequestHeadTimeout = TimeSpan.FromSeconds(10); });
        using RawClient client = await http.ConnectAsync();
        await client.SendAsync("GET /hello.txt HTTP/1.1\r\nHo");
        await http.WaitForPhaseAsync("Head");

        time.Advance(TimeSpan.FromSeconds(9));
        Assert.Equal(0, client.Socket.Available); // not yet
        time.Advance(TimeSpan.FromSeconds(2));
        HttpReply reply = await client.ReadReplyAsync();
        Assert.Equal(408, reply.Status);
        Assert.Equal("close", reply["Connection"]);
        Assert.True(await client.ClosedAsync());
    }

    [Fact]
    public async Task A_head_sent_a_byte_at_a_time_within_the_timeout_is_answered()
    {
        var time = new ManualTime();
        await using HttpHarness http = await HttpHarness.StartAsync(o => { o.TimeProvider = time; o.RequestHeadTimeout = TimeSpan.FromSeconds(10); });
        using RawClient client = await http.ConnectAsync();
        byte[] request = Encoding.ASCII.GetBytes(Request("/hello.txt"));
        foreach (byte b in request)
        {
            await client.SendAsync(new[] { b });
        }

        time.Advance(TimeSpan.FromSeconds(9));
        Assert.Equal("Hello, world!", (await client.ReadReplyAsync()).Text);

        // The next request's clock starts at its own first byte.
        time.Advance(TimeSpan.FromSeconds(5));
        await client.SendAsync(Request("/hello.txt"));
        Assert.Equal(200, (await client.ReadReplyAsync()).Status);
    }

    [Fact]
    public async Task An_idle_keep_alive_connection_closes_quietly_at_its_timeout()
    {
        var time = new ManualTime();
        await using HttpHarness http = await HttpHarness.StartAsync(o => { o.TimeProvider = time; o.KeepAliveTimeout = TimeSpan.FromSeconds(30); });
        using RawClient client = await http.ConnectAsync();
        await client.SendAsync(Request("/hello.txt"));
        Assert.Equal(200, (await client.ReadReplyAsync()).Status);
        await http.WaitForPhaseAsync("Idle");

        time.Advance(TimeSpan.FromSeconds(29));
        await client.SendAsync(Request("/hello.txt")); // still open
        Assert.Equal(200, (await client.ReadReplyAsync()).Status);
        await http.WaitForPhaseAsync("Idle");

        time.Advance(TimeSpan.FromSeconds(31));
        Assert.True(await client.ClosedAsync());
        Assert.Equal(0, client.Pending);
    }

    [Fact]
    public async Task Stopping_closes_idle_connections_and_lets_none_hang()
    {
        HttpHarness http = await HttpHarness.StartAsync();
        try
        {
            using RawClient idle = await http.ConnectAsync();
            await idle.SendAsync(Request("/hello.txt"));
            Assert.Equal(200, (await idle.ReadReplyAsync()).Status);
            using var grace = new CancellationTokenSource(HttpHarness.Patience);
            await http.Server.StopAsync(grace.Token);
            Assert.True(await idle.ClosedAsync());
            Assert.Equal(0, http.Server.ConnectionCount);
        }
        finally
        {
            await http.DisposeAsync();
        }
    }
}
