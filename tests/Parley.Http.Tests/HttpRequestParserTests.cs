using System.Buffers;
using System.Text;

namespace Parley.Http.Tests;

public class HttpRequestParserTests
{
    private const string Simple = "GET /a/b.txt?x=1&y=2 HTTP/1.1\r\nHost: example.test\r\nAccept-Encoding: gzip, br\r\nIf-None-Match: \"abc\"\r\nX-Empty:\r\nX-Spaces:   padded value  \r\n\r\n";

    [Fact]
    public void A_request_line_and_headers_are_taken_apart()
    {
        HttpRequestHead head = ParseWhole(Simple, out long consumed);
        Assert.Equal(Simple.Length, consumed);
        Assert.Equal(HttpRequestMethod.Get, head.Method);
        Assert.Equal("GET", Text(head.MethodBytes));
        Assert.Equal("/a/b.txt?x=1&y=2", Text(head.Target));
        Assert.Equal("/a/b.txt", Text(head.Path));
        Assert.Equal("x=1&y=2", Text(head.Query));
        Assert.Equal(HttpProtocolVersion.Http11, head.Version);
        Assert.True(head.KeepAlive);
        Assert.Equal("example.test", Text(head.Host));
        Assert.Equal("gzip, br", Text(head.AcceptEncoding));
        Assert.Equal("\"abc\"", Text(head.IfNoneMatch));
        Assert.Equal(5, head.HeaderCount);
        Assert.Equal("X-Empty", Text(head.GetHeaderName(3)));
        Assert.Equal("", Text(head.GetHeaderValue(3)));
        Assert.True(head.TryGetHeader("x-spaces"u8, out ReadOnlySpan<byte> padded));
        Assert.Equal("padded value", Text(padded));
        Assert.Equal(-1, head.ContentLength);
        Assert.False(head.HasBody);
    }

    [Fact]
    public void A_head_split_at_every_byte_and_across_segments_parses_the_same()
    {
        byte[] bytes = Encoding.ASCII.GetBytes(Simple + "GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
        for (int split = 1; split < bytes.Length; split++)
        {
            // Fed in two calls: the first bytes alone, then all of them (in two segments).
            var head = new HttpRequestHead();
            HttpParseStatus first = HttpRequestParser.Default.TryParse(new ReadOnlySequence<byte>(bytes, 0, split), head, out _);
            ReadOnlySequence<byte> whole = Segments.Of(bytes, split);
            HttpParseStatus second = first == HttpParseStatus.Complete ? first : HttpRequestParser.Default.TryParse(whole, head, out _);
            Assert.Equal(HttpParseStatus.Complete, second);
            Assert.Equal("/a/b.txt", Text(head.Path));
            Assert.Equal("padded value", head.TryGetHeader("X-Spaces"u8, out ReadOnlySpan<byte> v) ? Text(v) : null);
        }
    }

    [Fact]
    public void A_head_arriving_one_byte_at_a_time_completes_exactly_at_its_empty_line()
    {
        byte[] bytes = Encoding.ASCII.GetBytes(Simple);
        var head = new HttpRequestHead();
        for (int length = 1; length <= bytes.Length; length++)
        {
            HttpParseStatus status = HttpRequestParser.Default.TryParse(new ReadOnlySequence<byte>(bytes, 0, length), head, out long consumed);
            Assert.Equal(length == bytes.Length ? HttpParseStatus.Complete : HttpParseStatus.NeedMoreData, status);
            if (status == HttpParseStatus.Complete)
            {
                Assert.Equal(bytes.Length, consumed);
            }
        }
    }

    [Theory]
    [InlineData("GET / HTTP/1.0\r\n\r\n", false)]
    [InlineData("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nConnection: Keep-Alive, Upgrade\r\n\r\n", true)]
    [InlineData("GET / HTTP/1.2\r\nHost: h\r\n\r\n", true)]
    public void Keep_alive_follows_the_version_and_the_Connection_header(string request, bool keepAlive) =>
        Assert.Equal(keepAlive, ParseWhole(request, out _).KeepAlive);

    [Fact]
    public void Bare_line_feeds_end_lines_and_empty_lines_before_the_request_are_skipped()
    {
        HttpRequestHead head = ParseWhole("\r\n\nGET /x HTTP/1.0\nHost: h\n\n", out long consumed);
        Assert.Equal(HttpProtocolVersion.Http10, head.Version);
        Assert.Equal("/x", Text(head.Path));
        Assert.Equal("h", Text(head.Host));
        Assert.Equal(28, consumed);
    }

    [Theory]
    [InlineData("GET http://example.test/p/q?z HTTP/1.1\r\nHost: example.test\r\n\r\n", "/p/q", "z")]
    [InlineData("GET http://example.test HTTP/1.1\r\nHost: example.test\r\n\r\n", "", "")]
    [InlineData("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", "", "")]
    public void Absolute_and_asterisk_forms_give_their_path(string request, string path, string query)
    {
        HttpRequestHead head = ParseWhole(request, out _);
        Assert.Equal(path, Text(head.Path));
        Assert.Equal(query, Text(head.Query));
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n", 12, false)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", -1, true)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n", -1, true)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 5, false)]
    public void Body_framing_is_read_from_the_head(string request, long contentLength, bool chunked)
    {
        HttpRequestHead head = ParseWhole(request, out _);
        Assert.Equal(contentLength, head.ContentLength);
        Assert.Equal(chunked, head.Chunked);
    }

    [Theory]
    [InlineData("GET /\r\n\r\n", 400)] // HTTP/0.9
    [InlineData("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400)] // two spaces
    [InlineData("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400)]
    [InlineData("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400)]
    [InlineData("GET / HTTX/1.1\r\nHost: h\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1\r\nHost: h\r\n\r\n", 400)]
    [InlineData("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505)]
    [InlineData("GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505)]
    [InlineData("GET a HTTP/1.1\r\nHost: h\r\n\r\n", 400)]
    [InlineData("GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", 400)]
    [InlineData("GET /a\u0001 HTTP/1.1\r\nHost: h\r\n\r\n", 400)]
    [InlineData("GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\n\r\n", 400)] // no Host
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400)] // space before the colon
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n folded\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nX: a\u0000b\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\n: empty name\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1234567890123456789\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: x-custom\r\n\r\n", 501)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \r\n\r\n", 400)]
    [InlineData("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400)]
    public void Bad_requests_get_their_status(string request, int status)
    {
        var head = new HttpRequestHead();
        byte[] bytes = Encoding.Latin1.GetBytes(request);
        Assert.Equal(HttpParseStatus.Invalid, HttpRequestParser.Default.TryParse(new ReadOnlySequence<byte>(bytes), head, out _));
        Assert.Equal(status, head.ErrorStatus);
        Assert.False(string.IsNullOrEmpty(head.ErrorReason));
    }

    [Fact]
    public void The_request_line_limit_is_exact()
    {
        var parser = new HttpRequestParser(maxRequestLineLength: 100, maxHeadSize: 1000);
        string fits = "GET /" + new string('a', 100 - 14) + " HTTP/1.1"; // exactly 100 bytes
        Assert.Equal(100, fits.Length);
        Assert.Equal(HttpParseStatus.Complete, Parse(parser, fits + "\r\nHost: h\r\n\r\n", out _));
        string over = "GET /" + new string('a', 100 - 13) + " HTTP/1.1";
        Assert.Equal(HttpParseStatus.Invalid, Parse(parser, over + "\r\nHost: h\r\n\r\n", out HttpRequestHead head));
        Assert.Equal(414, head.ErrorStatus);

        // Without its line end yet: too long is known as soon as the limit (plus a CR) passes.
        Assert.Equal(HttpParseStatus.NeedMoreData, Parse(parser, fits + "\r", out _));
        Assert.Equal(HttpParseStatus.Invalid, Parse(parser, over + "\r", out head));
        Assert.Equal(414, head.ErrorStatus);
    }

    [Fact]
    public void The_head_size_limit_is_exact()
    {
        var parser = new HttpRequestParser(maxRequestLineLength: 100, maxHeadSize: 200);
        string start = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
        string fits = start + new string('v', 200 - start.Length - 4) + "\r\n\r\n"; // exactly 200 bytes
        Assert.Equal(200, fits.Length);
        Assert.Equal(HttpParseStatus.Complete, Parse(parser, fits, out _));
        string over = start + new string('v', 200 - start.Length - 3) + "\r\n\r\n";
        Assert.Equal(HttpParseStatus.Invalid, Parse(parser, over, out HttpRequestHead head));
        Assert.Equal(431, head.ErrorStatus);
        Assert.Equal(HttpParseStatus.NeedMoreData, Parse(parser, fits[..199], out _));
    }

    [Fact]
    public void The_header_count_limit_is_exact()
    {
        var parser = new HttpRequestParser(maxHeaderCount: 3);
        Assert.Equal(HttpParseStatus.Complete, Parse(parser, "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", out _));
        Assert.Equal(HttpParseStatus.Invalid, Parse(parser, "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", out HttpRequestHead head));
        Assert.Equal(431, head.ErrorStatus);
    }

    [Fact]
    public void A_parse_allocates_nothing()
    {
        byte[] bytes = Encoding.ASCII.GetBytes(Simple);
        var sequence = new ReadOnlySequence<byte>(bytes);
        var head = new HttpRequestHead();
        for (int i = 0; i < 100; i++)
        {
            head.Reset();
            HttpRequestParser.Default.TryParse(sequence, head, out _);
        }

        int complete = 0;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            head.Reset();
            complete += HttpRequestParser.Default.TryParse(sequence, head, out _) == HttpParseStatus.Complete ? 1 : 0;
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(1000, complete);
        Assert.Equal(0, allocated);
    }

    private static HttpParseStatus Parse(HttpRequestParser parser, string request, out HttpRequestHead head)
    {
        head = new HttpRequestHead(parser.MaxHeaderCount);
        return parser.TryParse(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(request)), head, out _);
    }

    private static HttpRequestHead ParseWhole(string request, out long consumed)
    {
        var head = new HttpRequestHead();
        Assert.Equal(HttpParseStatus.Complete, HttpRequestParser.Default.TryParse(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(request)), head, out consumed));
        return head;
    }

    private static string Text(ReadOnlySpan<byte> bytes) => Encoding.ASCII.GetString(bytes);
}

/// <summary>Sequences of several segments, for multi-segment parsing paths.</summary>
internal sealed class Segments : ReadOnlySequenceSegment<byte>
{
    private Segments(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    /// <summary><paramref name="bytes"/> as two segments split at <paramref name="split"/>.</summary>
    public static ReadOnlySequence<byte> Of(byte[] bytes, int split)
    {
        var first = new Segments(bytes.AsMemory(0, split), 0);
        var second = new Segments(bytes.AsMemory(split), split);
        first.Next = second;
        return new ReadOnlySequence<byte>(first, 0, second, bytes.Length - split);
    }
}
