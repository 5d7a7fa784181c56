using System.Text;

namespace Parley.Http.Tests;

public class PathAndPreconditionTests
{
    [Theory]
    [InlineData("/", "/")]
    [InlineData("", "/")]
    [InlineData("/a/b.txt", "/a/b.txt")]
    [InlineData("/a//b/./c/", "/a/b/c/")]
    [InlineData("/caf%C3%A9.txt", "/café.txt")]
    [InlineData("/a%20b", "/a b")]
    [InlineData("/%2e/x", "/x")]
    [InlineData("/..hidden/x..y", "/..hidden/x..y")]
    public void Paths_are_decoded_once_and_normalized(string raw, string expected)
    {
        Assert.True(Decode(raw, out string path, out _));
        Assert.Equal(expected, path);
    }

    [Theory]
    [InlineData("/../etc/passwd")]
    [InlineData("/a/../../etc/passwd")]
    [InlineData("/a/..")]
    [InlineData("/%2e%2e/etc/passwd")]
    [InlineData("/%2E%2E/etc/passwd")]
    [InlineData("/.%2e/x")]
    [InlineData("/a%2f..%2f..%2fetc")]
    [InlineData("/a%2Fb")]
    [InlineData("/a%5cb")]
    [InlineData("/a\\b")]
    [InlineData("/a%00b")]
    [InlineData("/a%zz")]
    [InlineData("/a%4")]
    [InlineData("/%C0%AE%C0%AE/x")] // overlong UTF-8 dots
    [InlineData("/%FF")]
    [InlineData("/%252e%252e/x")] // double-encoded: decoded once, "%2e%2e" is then a plain name... refused by neither rule?
    public void Paths_that_could_leave_the_root_or_be_read_two_ways_are_refused(string raw)
    {
        bool decoded = Decode(raw, out string path, out string? reason);
        if (raw == "/%252e%252e/x")
        {
            // Decoded exactly once: the segment is the literal name "%2e%2e", which is not "..".
            Assert.True(decoded);
            Assert.Equal("/%2e%2e/x", path);
            return;
        }

        Assert.False(decoded, $"{raw} decoded to {path}");
        Assert.False(string.IsNullOrEmpty(reason));
    }

    [Theory]
    [InlineData("bytes=0-0", 100, 0, 1)]
    [InlineData("bytes=0-99", 100, 0, 100)]
    [InlineData("bytes=0-1000", 100, 0, 100)]
    [InlineData("bytes=99-", 100, 99, 1)]
    [InlineData("bytes=-10", 100, 90, 10)]
    [InlineData("bytes=-1000", 100, 0, 100)]
    [InlineData("bytes=0-99999999999999999999", 100, 0, 100)]
    [InlineData("bytes= 5-9", 100, 5, 5)]
    public void A_single_range_is_satisfied(string header, long length, long start, long count)
    {
        Assert.Equal(RangeResult.Partial, Preconditions.ParseRange(Encoding.ASCII.GetBytes(header), length, out long s, out long c));
        Assert.Equal((start, count), (s, c));
    }

    [Theory]
    [InlineData("bytes=100-", 100, "Unsatisfiable")]
    [InlineData("bytes=100-200", 100, "Unsatisfiable")]
    [InlineData("bytes=9223372036854775807-", 100, "Unsatisfiable")]
    [InlineData("bytes=99999999999999999999999-", 100, "Unsatisfiable")]
    [InlineData("bytes=-0", 100, "Unsatisfiable")]
    [InlineData("bytes=0-", 0, "Unsatisfiable")]
    [InlineData("bytes=5-2", 100, "Ignore")]
    [InlineData("bytes=0-1,5-6", 100, "Ignore")]
    [InlineData("bytes=a-b", 100, "Ignore")]
    [InlineData("items=0-1", 100, "Ignore")]
    [InlineData("bytes=-", 100, "Ignore")]
    public void Other_ranges_are_unsatisfiable_or_ignored(string header, long length, string expected) =>
        Assert.Equal(Enum.Parse<RangeResult>(expected), Preconditions.ParseRange(Encoding.ASCII.GetBytes(header), length, out _, out _));

    [Theory]
    [InlineData("\"a\"", "\"a\"", true)]
    [InlineData("W/\"a\"", "\"a\"", true)]
    [InlineData("\"x\", \"a\"", "\"a\"", true)]
    [InlineData("*", "\"a\"", true)]
    [InlineData("\"b\"", "\"a\"", false)]
    [InlineData("\"a", "\"a\"", false)]
    public void If_None_Match_compares_weakly(string header, string etag, bool hit) =>
        Assert.Equal(hit, Preconditions.NoneMatchHits(Encoding.ASCII.GetBytes(header), Encoding.ASCII.GetBytes(etag)));

    [Fact]
    public void If_Modified_Since_takes_the_HTTP_date_and_ignores_anything_else()
    {
        var modified = new DateTime(2026, 11, 30, 10, 0, 0, DateTimeKind.Utc);
        var now = new DateTime(2026, 12, 2, 0, 0, 0, DateTimeKind.Utc);
        Assert.True(Preconditions.NotModifiedSince("Mon, 30 Nov 2026 10:00:00 GMT"u8, modified, now));
        Assert.True(Preconditions.NotModifiedSince("Tue, 01 Dec 2026 10:00:00 GMT"u8, modified, now));
        Assert.False(Preconditions.NotModifiedSince("Mon, 30 Nov 2026 09:59:59 GMT"u8, modified, now));
        Assert.False(Preconditions.NotModifiedSince("yesterday"u8, modified, now));
        Assert.False(Preconditions.NotModifiedSince("Mon, 30 Nov 2026 10:00:00 GMT trailing"u8, modified, now));
        Assert.False(Preconditions.NotModifiedSince("Fri, 01 Jan 2027 00:00:00 GMT"u8, modified, now)); // the future: invalid, ignored
        Assert.True(Preconditions.NotModifiedSince("Monday, 30-Nov-26 10:00:00 GMT"u8, modified, now)); // RFC 850
        Assert.True(Preconditions.NotModifiedSince("Mon Nov 30 10:00:00 2026"u8, modified, now)); // asctime
        Assert.True(Preconditions.NotModifiedSince("Tue Dec  1 10:00:00 2026"u8, modified, now)); // asctime, day padded
    }

    [Theory]
    [InlineData("*", true)]
    [InlineData("\"a\"", true)]
    [InlineData("\"x\", \"a\"", true)]
    [InlineData("W/\"a\"", false)]
    [InlineData("\"b\"", false)]
    public void If_Match_compares_strongly(string header, bool hit) =>
        Assert.Equal(hit, Preconditions.MatchHits(Encoding.ASCII.GetBytes(header), "\"a\""u8));

    [Fact]
    public void If_Range_needs_a_strong_tag_match_or_the_exact_date()
    {
        var modified = new DateTime(2026, 11, 30, 10, 0, 0, DateTimeKind.Utc);
        Assert.True(Preconditions.RangeStillValid(""u8, "\"a\""u8, modified));
        Assert.True(Preconditions.RangeStillValid("\"a\""u8, "\"a\""u8, modified));
        Assert.False(Preconditions.RangeStillValid("W/\"a\""u8, "\"a\""u8, modified));
        Assert.False(Preconditions.RangeStillValid("\"b\""u8, "\"a\""u8, modified));
        Assert.True(Preconditions.RangeStillValid("Mon, 30 Nov 2026 10:00:00 GMT"u8, "\"a\""u8, modified));
        Assert.False(Preconditions.RangeStillValid("Mon, 30 Nov 2026 10:00:01 GMT"u8, "\"a\""u8, modified));
    }

    [Theory]
    [InlineData("gzip, deflate, br", 1)]
    [InlineData("gzip;q=1.0, br;q=0", 2)]
    [InlineData("gzip;q=0.5, br;q=0.1", 2)]
    [InlineData("GZIP", 2)]
    [InlineData("*", 1)]
    [InlineData("*;q=0, gzip", 2)]
    [InlineData("identity", 0)]
    [InlineData("br;q=0.0", 0)]
    [InlineData("br;q=0.001", 1)]
    [InlineData("br;q=2", 0)]
    [InlineData("deflate\r\nAccept-Encoding: gzip", 2)] // a list split over two fields
    public void The_coding_with_the_highest_weight_wins_brotli_on_a_tie(string header, int expected)
    {
        var head = new HttpRequestHead();
        string request = "GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding: " + header + "\r\n\r\n";
        Assert.Equal(HttpParseStatus.Complete, HttpRequestParser.Default.TryParse(new System.Buffers.ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(request)), head, out _));
        Assert.Equal(expected, Preconditions.ChooseCoding(head, haveBrotli: true, haveGzip: true));
    }

    [Fact]
    public void A_file_without_a_coding_is_not_chosen_for_it()
    {
        var head = new HttpRequestHead();
        Assert.Equal(HttpParseStatus.Complete, HttpRequestParser.Default.TryParse(new System.Buffers.ReadOnlySequence<byte>("GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding: br\r\n\r\n"u8.ToArray()), head, out _));
        Assert.Equal(0, Preconditions.ChooseCoding(head, haveBrotli: false, haveGzip: true));
    }

    private static bool Decode(string raw, out string path, out string? reason)
    {
        char[] destination = new char[raw.Length + 2];
        bool ok = PathDecoder.TryDecode(Encoding.Latin1.GetBytes(raw), destination, out int length, out reason);
        path = new string(destination, 0, length);
        return ok;
    }
}
