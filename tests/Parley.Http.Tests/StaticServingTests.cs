using System.IO.Compression;
using System.Text;

namespace Parley.Http.Tests;

/// <summary>The static file server over real sockets, as a client sees it.</summary>
public class StaticServingTests
{
    private const string Get = "GET {0} HTTP/1.1\r\nHost: t\r\n{1}\r\n";

    [Fact]
    public async Task A_file_comes_with_its_type_length_date_and_validators()
    {
        await using HttpHarness http = await HttpHarness.StartAsync();
        HttpReply reply = await http.GetAsync(Request("/hello.txt"));
        Assert.Equal(200, reply.Status);
        Assert.Equal("Hello, world!", reply.Text);
        Assert.Equal("13", reply["Content-Length"]);
        Assert.Equal("text/plain; charset=utf-8", reply["Content-Type"]);
        Assert.True(DateTime.TryParse(reply["Date"], System.Globalization.CultureInfo.InvariantCulture, out _));
        Assert.Equal(File.GetLastWriteTimeUtc(Path.Combine(http.Root, "hello.txt")).ToString("R"), reply["Last-Modified"]);
        Assert.StartsWith("\"", reply["ETag"], StringComparison.Ordinal);
        Assert.Equal("bytes", reply["Accept-Ranges"]);
        Assert.Null(reply["Connection"]);
    }

    [Fact]
    public async Task HEAD_has_the_same_head_and_no_body()
    {
        await using HttpHarness http = await HttpHarness.StartAsync();
        using RawClient client = await http.ConnectAsync();
        await client.SendAsync("HEAD /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n" + Request("/hello.txt"));
        HttpReply head = await client.ReadReplyAsync(head: true);
        Assert.Equal(200, head.Status);
        Assert.Equal("13", head["Content-Length"]);
        Assert.Empty(head.Body);
        HttpReply get = await client.ReadReplyAsync(); // right after the head: no body bytes in between
        Assert.Equal("Hello, world!", get.Text);
        Assert.Equal(head["ETag"], get["ETag"]);
    }

    [Fact]
    public async Task Pipelined_requests_split_at_every_byte_are_answered_in_order()
    {
        await using HttpHarness http = await HttpHarness.StartAsync();
        string requests = Request("/hello.txt") + Request("/docs/") + "HEAD /index.html HTTP/1.1\r\nHost: t\r\n\r\n" + Request("/missing");
        byte[] bytes = Encoding.ASCII.GetBytes(requests);
        for (int split = 1; split < bytes.Length; split++)
        {
            using RawClient client = await http.ConnectAsync();
            await client.SendAsync(bytes.AsMemory(0, split));
            await client.SendAsync(bytes.AsMemory(split));
            Assert.Equal("Hello, world!", (await client.ReadReplyAsync()).Text);
            Assert.Equal("docs index", (await client.ReadReplyAsync()).Text);
            HttpReply head = await client.ReadReplyAsync(head: true);
            Assert.Equal(200, head.Status);
            Assert.Empty(head.Body);
            Assert.Equal(404, (await client.ReadReplyAsync()).Status);
            Assert.Equal(0, client.Pending);
        }
    }

    [Fact]
    public async Task HTTP_1_0_closes_unless_asked_to_keep_alive()
    {
        await using HttpHarness http = await HttpHarness.StartAsync();
        using (RawClient client = await http.ConnectAsync())
        {
            await client.SendAsync("GET /hello.txt HTTP/1.0\r\n\r\n");
            HttpReply reply = await client.ReadReplyAsync();
            Assert.Equal("close", reply["Connection"]);
            Assert.True(await client.ClosedAsync());
        }

        using (RawClient client = await http.ConnectAsync())
        {
            await client.SendAsync("GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
            Assert.Equal("keep-alive", (await client.ReadReplyAsync())["Connection"]);
            await client.SendAsync("GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
            Assert.Equal("Hello, world!", (await client.ReadReplyAsync()).Text);
        }
    }

    [Fact]
    public async Task Connection_close_is_honoured_after_the_response()
    {
        await using HttpHarness http = await HttpHarness.StartAsync();
        using RawClient client = await http.ConnectAsync();
        await client.SendAsync("GET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" + Request("/hello.txt"));
        HttpReply reply = await client.ReadReplyAsync();
        Assert.Equal("close", reply["Connection"]);
        Assert.True(await client.ClosedAsync()); // the pipelined second request is not answered
    }

    [Fact]
    public async Task A_folder_serves_its_index_and_gets_its_slash_added()
    {
        await using HttpHarness http = await HttpHarness.StartAsync();
        Assert.Equal("<html><body>index</body></html>", (await http.GetAsync(Request("/"))).Text);
        Assert.Equal("text/html; charset=utf-8", (await http.GetAsync(Request("/"))) ["Content-Type"]);
        HttpReply redirect = await http.GetAsync(Request("/docs?x=1"));
        Assert.Equal(301, redirect.Status);
        Assert.Equal("/docs/?x=1", redirect["Location"]);
        Assert.Equal("docs index", (await http.GetAsync(Request("/docs/"))).Text);
    }

    [Fact]
    public async Task Unchanged_files_answer_304_to_their_validators()
    {
        await using HttpHarness http = await HttpHarness.StartAsync();
        HttpReply first = await http.GetAsync(Request("/hello.txt"));
        string etag = first["ETag"]!;
        string modified = first["Last-Modified"]!;

        HttpReply byTag = await http.GetAsync(Request("/hello.txt", $"If-None-Match: \"other\", {etag}\r\n"));
        Assert.Equal(304, byTag.Status);
        Assert.Empty(byTag.Body);
        Assert.Equal(etag, byTag["ETag"]);
        Assert.Null(byTag["Content-Length"]);

        Assert.Equal(304, (await http.GetAsync(Request("/hello.txt", $"If-Modified-Since: {modified}\r\n"))).Status);
        Assert.Equal(200, (await http.GetAsync(Request("/hello.txt", "If-None-Match: \"other\"\r\n"))).Status);
        Assert.Equal(200, (await http.GetAsync(Request("/hello.txt", "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n"))).Status);

        // If-None-Match wins over If-Modified-Since (RFC 9110 §13.1.3).
        Assert.Equal(200, (await http.GetAsync(Request("/hello.txt", $"If-None-Match: \"other\"\r\nIf-Modified-Since: {modified}\r\n"))).Status);
    }

    [Fact]
    public async Task One_range_gets_206_and_one_past_the_end_416()
    {
        await using HttpHarness http = await HttpHarness.StartAsync();
        HttpReply partial = await http.GetAsync(Request("/hello.txt", "Range: bytes=7-11\r\n"));
        Assert.Equal(206, partial.Status);
        Assert.Equal("world", partial.Text);
        Assert.Equal("bytes 7-11/13", partial["Content-Range"]);

        Assert.Equal("!", (await http.GetAsync(Request("/hello.txt", "Range: bytes=-1\r\n"))).Text);

        HttpReply unsatisfiable = await http.GetAsync(Request("/hello.txt", "Range: bytes=13-\r\n"));
        Assert.Equal(416, unsatisfiable.Status);
        Assert.Equal("bytes */13", unsatisfiable["Content-Range"]);

        Assert.Equal(200, (await http.GetAsync(Request("/hello.txt", "Range: bytes=0-1,3-4\r\n"))).Status); // several: whole
        Assert.Equal(200, (await http.GetAsync(Request("/hello.txt", "Range: bytes=0-1\r\nIf-Range: \"stale\"\r\n"))).Status);
        string etag = (await http.GetAsync(Request("/hello.txt")))["ETag"]!;
        Assert.Equal(206, (await http.GetAsync(Request("/hello.txt", $"Range: bytes=0-1\r\nIf-Range: {etag}\r\n"))).Status);
    }

    [Fact]
    public async Task Precompressed_siblings_are_chosen_by_Accept_Encoding()
    {
        string css = string.Concat(Enumerable.Repeat("body { color: red; }\n", 50));
        await using HttpHarness http = await HttpHarness.StartAsync(populate: root =>
        {
            File.WriteAllText(Path.Combine(root, "site.css"), css);
            File.WriteAllBytes(Path.Combine(root, "site.css.gz"), Compress(css, s => new GZipStream(s, CompressionLevel.Optimal)));
            File.WriteAllBytes(Path.Combine(root, "site.css.br"), Compress(css, s => new BrotliStream(s, CompressionLevel.Optimal)));
        });

        HttpReply brotli = await http.GetAsync(Request("/site.css", "Accept-Encoding: gzip, deflate, br\r\n"));
        Assert.Equal("br", brotli["Content-Encoding"]);
        Assert.Equal("Accept-Encoding", brotli["Vary"]);
        Assert.Equal("text/css; charset=utf-8", brotli["Content-Type"]);
        Assert.Equal(css, Decompress(brotli.Body, s => new BrotliStream(s, CompressionMode.Decompress)));

        HttpReply gzip = await http.GetAsync(Request("/site.css", "Accept-Encoding: gzip\r\n"));
        Assert.Equal("gzip", gzip["Content-Encoding"]);
        Assert.Equal(css, Decompress(gzip.Body, s => new GZipStream(s, CompressionMode.Decompress)));
        Assert.NotEqual(brotli["ETag"], gzip["ETag"]);

        HttpReply identity = await http.GetAsync(Request("/site.css", "Accept-Encoding: br;q=0, identity\r\n"));
        Assert.Null(identity["Content-Encoding"]);
        Assert.Equal("Accept-Encoding", identity["Vary"]);
        Assert.Equal(css, identity.Text);
    }

    [Fact]
    public async Task A_large_file_is_sent_whole_and_in_ranges_from_disk()
    {
        byte[] content = new byte[300_000];
        new Random(7).NextBytes(content);
        await using HttpHarness http = await HttpHarness.StartAsync(populate: root => File.WriteAllBytes(Path.Combine(root, "big.bin"), content));
        using RawClient client = await http.ConnectAsync();
        await client.SendAsync(Request("/big.bin") + Request("/big.bin", "Range: bytes=100000-100009\r\n") + Request("/hello.txt"));
        HttpReply whole = await client.ReadReplyAsync();
        Assert.Equal("application/octet-stream", whole["Content-Type"]);
        Assert.Equal(content, whole.Body);
        Assert.Equal(content.AsSpan(100_000, 10).ToArray(), (await client.ReadReplyAsync()).Body);
        Assert.Equal("Hello, world!", (await client.ReadReplyAsync()).Text);
        Assert.Equal(0, http.Files.CachedBytes > 64 * 1024 ? 1 : 0); // never cached whole
    }

    [Fact]
    public async Task A_changed_file_is_served_fresh_after_the_revalidation_interval()
    {
        var time = new Parley.Tests.ManualTime();
        await using HttpHarness http = await HttpHarness.StartAsync(
            configure: o => o.TimeProvider = time,
            files: o => { o.WatchForChanges = false; o.TimeProvider = time; });
        Assert.Equal("Hello, world!", (await http.GetAsync(Request("/hello.txt"))).Text);

        string file = Path.Combine(http.Root, "hello.txt");
        File.WriteAllText(file, "Changed on disk, longer.");
        File.SetLastWriteTimeUtc(file, DateTime.UtcNow.AddMinutes(1));
        Assert.Equal("Hello, world!", (await http.GetAsync(Request("/hello.txt"))).Text); // within the interval: the cache

        time.Advance(TimeSpan.FromSeconds(1));
        HttpReply fresh = await http.GetAsync(Request("/hello.txt"));
        Assert.Equal("Changed on disk, longer.", fresh.Text);

        File.Delete(file);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(404, (await http.GetAsync(Request("/hello.txt"))).Status);
    }

    [Fact]
    public async Task A_watched_folder_serves_a_change_without_waiting_for_revalidation()
    {
        var time = new Parley.Tests.ManualTime(); // never advanced: only the watcher can refresh
        await using HttpHarness http = await HttpHarness.StartAsync(files: o => o.TimeProvider = time);
        Assert.Equal("Hello, world!", (await http.GetAsync(Request("/hello.txt"))).Text);
        File.WriteAllText(Path.Combine(http.Root, "hello.txt"), "Changed.");

        // inotify reports asynchronously: ask until it has (bounded; no fixed sleep decides the outcome).
        string text = "";
        long start = Environment.TickCount64;
        while (text != "Changed." && Environment.TickCount64 - start < HttpHarness.Patience.TotalMilliseconds)
        {
            text = (await http.GetAsync(Request("/hello.txt"))).Text;
            if (text != "Changed.")
            {
                await Task.Delay(25);
            }
        }

        Assert.Equal("Changed.", text);
    }

    [Fact]
    public async Task A_mounted_handler_answers_its_prefix_and_the_files_the_rest()
    {
        await using HttpHarness http = await HttpHarness.StartAsync(configure: o => o.Map("/api", new HelloHandler()));
        HttpReply api = await http.GetAsync(Request("/api/greeting?who=x"));
        Assert.Equal(200, api.Status);
        Assert.Equal("hello /api/greeting", api.Text);
        Assert.Equal("hello /api", (await http.GetAsync(Request("/api"))).Text);
        Assert.Equal(404, (await http.GetAsync(Request("/apix"))).Status); // a prefix ends at a slash
        Assert.Equal("Hello, world!", (await http.GetAsync(Request("/hello.txt"))).Text);
    }

    internal static string Request(string path, string headers = "") => string.Format(System.Globalization.CultureInfo.InvariantCulture, Get, path, headers);

    private static byte[] Compress(string text, Func<Stream, Stream> compressor)
    {
        using var output = new MemoryStream();
        using (Stream stream = compressor(output))
        {
            stream.Write(Encoding.UTF8.GetBytes(text));
        }

        return output.ToArray();
    }

    private static string Decompress(byte[] bytes, Func<Stream, Stream> decompressor)
    {
        using Stream stream = decompressor(new MemoryStream(bytes));
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private sealed class HelloHandler : HttpHandler
    {
        public override ValueTask<bool> HandleAsync(HttpContext context)
        {
            context.Response.Write(200, "text/plain"u8, Encoding.UTF8.GetBytes("hello " + context.Path.ToString()));
            return new ValueTask<bool>(true);
        }
    }
}
