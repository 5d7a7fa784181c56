using System.Diagnostics;
using System.Net;
using System.Text;
using Parley.Tests;
using static Parley.Http.Tests.StaticServingTests;

namespace Parley.Http.Tests;

/// <summary>Files and requests that went wrong in a hostile review (2026-12-02), each kept as a test.</summary>
public class HostileFileTests
{
    [Fact]
    public async Task A_FIFO_in_the_root_is_not_served_and_blocks_nothing()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        await using HttpHarness http = await HttpHarness.StartAsync(populate: root =>
        {
            using var mkfifo = Process.Start("mkfifo", [Path.Combine(root, "pipe"), Path.Combine(root, "hello.txt.gz")]);
            mkfifo.WaitForExit();
        });
        Assert.Equal(404, (await http.GetAsync(Request("/pipe"))).Status);
        HttpReply sibling = await http.GetAsync(Request("/hello.txt", "Accept-Encoding: gzip\r\n")); // a FIFO as the .gz sibling
        Assert.Equal("Hello, world!", sibling.Text);
        Assert.Null(sibling["Content-Encoding"]);
    }

    [Fact]
    public async Task A_partial_request_behind_a_complete_one_still_times_out()
    {
        var time = new ManualTime();
        await using HttpHarness http = await HttpHarness.StartAsync(o => { o.TimeProvider = time; o.RequestHeadTimeout = TimeSpan.FromSeconds(5); });
        using RawClient client = await http.ConnectAsync();
        await client.SendAsync(Request("/hello.txt") + "GET /a");
        Assert.Equal(200, (await client.ReadReplyAsync()).Status);
        await http.WaitForPhaseAsync("Head");

        time.Advance(TimeSpan.FromSeconds(6));
        Assert.Equal(408, (await client.ReadReplyAsync()).Status);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\n\r\n", 400)]
    [InlineData("GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505)]
    [InlineData("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501)]
    public async Task A_bad_request_after_good_ones_still_gets_its_status(string bad, int status)
    {
        await using HttpHarness http = await HttpHarness.StartAsync();
        HttpReply[] replies = new HttpReply[2];
        using RawClient client = await http.ConnectAsync();
        await client.SendAsync(Request("/hello.txt") + bad);
        replies[0] = await client.ReadReplyAsync();
        replies[1] = await client.ReadReplyAsync();
        Assert.Equal(200, replies[0].Status);
        Assert.Equal(status, replies[1].Status);
        Assert.Equal("close", replies[1]["Connection"]);
    }

    [Fact]
    public async Task Failed_preconditions_get_412_and_lists_split_over_fields_are_read_whole()
    {
        await using HttpHarness http = await HttpHarness.StartAsync();
        HttpReply first = await http.GetAsync(Request("/hello.txt"));
        string etag = first["ETag"]!;
        Assert.Equal(412, (await http.GetAsync(Request("/hello.txt", "If-Match: \"other\"\r\n"))).Status);
        Assert.Equal(200, (await http.GetAsync(Request("/hello.txt", $"If-Match: {etag}\r\n"))).Status);
        Assert.Equal(412, (await http.GetAsync(Request("/hello.txt", "If-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n"))).Status);
        Assert.Equal(304, (await http.GetAsync(Request("/hello.txt", $"If-None-Match: \"other\"\r\nIf-None-Match: {etag}\r\n"))).Status);
    }

    [Fact]
    public async Task Sending_a_file_that_is_shorter_than_asked_fails_instead_of_sending_less()
    {
        string file = Path.GetTempFileName();
        File.WriteAllBytes(file, new byte[1000]);
        try
        {
            using var listener = new SocketConnectionListener(new IPEndPoint(IPAddress.Loopback, 0));
            listener.Start();
            ValueTask<Transport> accepted = listener.AcceptAsync();
            using Transport client = await new SocketConnectionDialer((IPEndPoint)listener.LocalEndPoint!).ConnectAsync();
            using Transport server = await accepted;
            using var handle = File.OpenHandle(file, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.Asynchronous);
            // sendfile: the runtime refuses a range past the end (EINVAL) or the transport finds the
            // file ended early; either way the send fails instead of sending less than promised.
            Exception? failure = await Record.ExceptionAsync(async () => await server.SendFileAsync(handle, 0, 2000));
            Assert.True(failure is EndOfStreamException or System.Net.Sockets.SocketException, failure?.ToString());
            using var plain = File.OpenHandle(file); // not asynchronous: the copying path
            await Assert.ThrowsAsync<EndOfStreamException>(async () => await server.SendFileAsync(plain, 500, 600));
        }
        finally
        {
            File.Delete(file);
        }
    }
}
