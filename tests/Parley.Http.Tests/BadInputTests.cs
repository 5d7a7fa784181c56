using System.Text;
using static Parley.Http.Tests.StaticServingTests;

namespace Parley.Http.Tests;

/// <summary>Bad requests get their status and close only their own connection; limits hold at their edges.</summary>
public class BadInputTests
{
    [Theory]
    [InlineData("GET / HTTP/1.1\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400)]
    [InlineData("GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505)]
    [InlineData("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501)]
    [InlineData("GET /../hello.txt HTTP/1.1\r\nHost: t\r\n\r\n", 400)]
    [InlineData("GET /%2e%2e/hello.txt HTTP/1.1\r\nHost: t\r\n\r\n", 400)]
    [InlineData("GET /docs%2f..%2fhello.txt HTTP/1.1\r\nHost: t\r\n\r\n", 400)]
    [InlineData("GET /a%00.txt HTTP/1.1\r\nHost: t\r\n\r\n", 400)]
    [InlineData("GET /a\\..\\hello.txt HTTP/1.1\r\nHost: t\r\n\r\n", 400)]
    [InlineData("GET /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 1048577\r\n\r\n", 413)]
    public async Task A_bad_request_gets_its_status_and_its_connection_closes(string request, int status)
    {
        await using HttpHarness http = await HttpHarness.StartAsync();
        using RawClient other = await http.ConnectAsync(); // a bystander with a request under way
        await other.SendAsync("GET /hello.txt HTTP/1.1\r\n");

        using RawClient client = await http.ConnectAsync();
        await client.SendAsync(request);
        HttpReply reply = await client.ReadReplyAsync();
        Assert.Equal(status, reply.Status);
        Assert.Equal("close", reply["Connection"]);
        Assert.StartsWith($"{status} ", reply.Text, StringComparison.Ordinal);
        Assert.True(await client.ClosedAsync());

        await other.SendAsync("Host: t\r\n\r\n");
        Assert.Equal("Hello, world!", (await other.ReadReplyAsync()).Text);
    }

    [Fact]
    public async Task Methods_other_than_GET_and_HEAD_get_405_with_Allow()
    {
        await using HttpHarness http = await HttpHarness.StartAsync();
        using RawClient client = await http.ConnectAsync();
        await client.SendAsync("DELETE /hello.txt HTTP/1.1\r\nHost: t\r\n\r\nget /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n" + Request("/hello.txt"));
        HttpReply delete = await client.ReadReplyAsync();
        Assert.Equal(405, delete.Status);
        Assert.Equal("GET, HEAD", delete["Allow"]);
        Assert.Equal(405, (await client.ReadReplyAsync()).Status); // methods are case-sensitive
        Assert.Equal(200, (await client.ReadReplyAsync()).Status); // the connection stays
    }

    [Fact]
    public async Task The_request_line_and_head_limits_answer_414_and_431_at_their_edges()
    {
        await using HttpHarness http = await HttpHarness.StartAsync(o =>
        {
            o.MaxRequestLineLength = 200;
            o.MaxHeadSize = 1000;
            o.MaxHeaderCount = 10;
        });

        string LineOf(int length) => "GET /hello.txt?" + new string('q', length - 24) + " HTTP/1.1";
        Assert.Equal(200, LineOf(200).Length);
        Assert.Equal(200, (await http.GetAsync(LineOf(200) + "\r\nHost: t\r\n\r\n")).Status);
        Assert.Equal(414, (await http.GetAsync(LineOf(201) + "\r\nHost: t\r\n\r\n")).Status);

        string start = "GET /hello.txt HTTP/1.1\r\nHost: t\r\nX: ";
        string HeadOf(int length) => start + new string('v', length - start.Length - 4) + "\r\n\r\n";
        Assert.Equal(200, (await http.GetAsync(HeadOf(1000))).Status);
        Assert.Equal(431, (await http.GetAsync(HeadOf(1001))).Status);

        string Fields(int count) => "GET /hello.txt HTTP/1.1\r\nHost: t\r\n" + string.Concat(Enumerable.Range(1, count - 1).Select(i => $"X-{i}: v\r\n")) + "\r\n";
        Assert.Equal(200, (await http.GetAsync(Fields(10))).Status);
        Assert.Equal(431, (await http.GetAsync(Fields(11))).Status);
    }

    [Fact]
    public async Task A_head_that_never_ends_is_refused_at_the_size_limit_without_waiting_for_it()
    {
        await using HttpHarness http = await HttpHarness.StartAsync(o => o.MaxHeadSize = 8192);
        using RawClient client = await http.ConnectAsync();
        await client.SendAsync("GET / HTTP/1.1\r\nHost: t\r\nX: " + new string('v', 9000));
        Assert.Equal(431, (await client.ReadReplyAsync()).Status);
        Assert.True(await client.ClosedAsync());
    }

    [Fact]
    public async Task Request_bodies_are_read_past_so_the_next_request_is_found()
    {
        await using HttpHarness http = await HttpHarness.StartAsync();
        using RawClient client = await http.ConnectAsync();
        string chunked = "GET /hello.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nGET /\r\n3;x=y\r\nabc\r\n0\r\nTrailer: 1\r\n\r\n";
        string sized = "GET /docs/ HTTP/1.1\r\nHost: t\r\nContent-Length: 20\r\n\r\nGET /evil HTTP/1.1\r\n";
        byte[] bytes = Encoding.ASCII.GetBytes(chunked + sized + Request("/hello.txt"));
        for (int i = 0; i < bytes.Length; i += 7)
        {
            await client.SendAsync(bytes.AsMemory(i, Math.Min(7, bytes.Length - i)));
        }

        Assert.Equal("Hello, world!", (await client.ReadReplyAsync()).Text);
        Assert.Equal("docs index", (await client.ReadReplyAsync()).Text);
        Assert.Equal("Hello, world!", (await client.ReadReplyAsync()).Text);
    }

    [Fact]
    public async Task A_bad_or_oversized_chunked_body_that_has_arrived_is_answered_instead_of_the_request()
    {
        await using HttpHarness http = await HttpHarness.StartAsync(o => o.MaxRequestBodySize = 100);
        HttpReply tooLarge = await http.GetAsync("GET /hello.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n" + new string('x', 101) + "\r\n0\r\n\r\n" + Request("/hello.txt"));
        Assert.Equal(413, tooLarge.Status);
        Assert.Equal("close", tooLarge["Connection"]);
        HttpReply malformed = await http.GetAsync("GET /hello.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n" + Request("/hello.txt"));
        Assert.Equal(400, malformed.Status);
    }

    [Fact]
    public async Task A_body_that_goes_bad_after_its_response_closes_the_connection_cleanly()
    {
        await using HttpHarness http = await HttpHarness.StartAsync(o => o.MaxRequestBodySize = 100);
        using RawClient client = await http.ConnectAsync();
        await client.SendAsync("GET /hello.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n");
        Assert.Equal(200, (await client.ReadReplyAsync()).Status); // answered while the body still comes
        await client.SendAsync(new string('x', 16) + "\r\n65\r\n" + new string('y', 101) + "\r\n0\r\n\r\n" + Request("/hello.txt"));
        Assert.True(await client.ClosedAsync()); // a FIN (the next request unanswered), not a reset
    }

    [Fact]
    public async Task Expect_100_continue_with_a_body_is_answered_and_closed_without_inviting_the_body()
    {
        await using HttpHarness http = await HttpHarness.StartAsync();
        using RawClient client = await http.ConnectAsync();
        await client.SendAsync("GET /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n");
        HttpReply reply = await client.ReadReplyAsync();
        Assert.Equal(200, reply.Status);
        Assert.Equal("close", reply["Connection"]);
    }

    [Fact]
    public async Task Symbolic_links_that_leave_the_root_are_not_followed()
    {
        string outside = Directory.CreateTempSubdirectory("parley-outside-").FullName;
        File.WriteAllText(Path.Combine(outside, "secret.txt"), "secret");
        try
        {
            await using HttpHarness http = await HttpHarness.StartAsync(populate: root =>
            {
                File.CreateSymbolicLink(Path.Combine(root, "leak.txt"), Path.Combine(outside, "secret.txt"));
                Directory.CreateSymbolicLink(Path.Combine(root, "out"), outside);
                File.CreateSymbolicLink(Path.Combine(root, "alias.txt"), Path.Combine(root, "hello.txt"));
            });
            Assert.Equal(404, (await http.GetAsync(Request("/leak.txt"))).Status);
            Assert.Equal(404, (await http.GetAsync(Request("/out/secret.txt"))).Status);
            Assert.Equal(404, (await http.GetAsync(Request("/out/"))).Status);
            Assert.Equal("Hello, world!", (await http.GetAsync(Request("/alias.txt"))).Text); // inside: served
        }
        finally
        {
            Directory.Delete(outside, recursive: true);
        }
    }

    [Fact]
    public async Task Connections_past_the_limit_are_closed_and_the_others_served()
    {
        await using HttpHarness http = await HttpHarness.StartAsync(o => o.MaxConnections = 2);
        using RawClient first = await http.ConnectAsync();
        using RawClient second = await http.ConnectAsync();
        await first.SendAsync(Request("/hello.txt"));
        await second.SendAsync(Request("/hello.txt"));
        Assert.Equal(200, (await first.ReadReplyAsync()).Status);
        Assert.Equal(200, (await second.ReadReplyAsync()).Status);

        using RawClient third = await http.ConnectAsync();
        Assert.True(await third.ClosedAsync());
        Assert.Equal(2, http.Server.ConnectionCount);

        second.Dispose();
        HttpReply? reply = null;
        long start = Environment.TickCount64;
        while (reply is null && Environment.TickCount64 - start < HttpHarness.Patience.TotalMilliseconds)
        {
            // The server notices the departure when its read fails; until then a newcomer is refused.
            using RawClient fourth = await http.ConnectAsync();
            try
            {
                await fourth.SendAsync(Request("/hello.txt"));
                reply = await fourth.ReadReplyAsync();
            }
            catch (Exception ex) when (ex is EndOfStreamException or System.Net.Sockets.SocketException)
            {
                await Task.Delay(20);
            }
        }

        Assert.Equal(200, reply?.Status);
    }
}
