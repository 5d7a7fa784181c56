using System.Text;

namespace Parley.Http.Tests;

public class BodySkipperTests
{
    private const string Next = "GET /next HTTP/1.1\r\n";

    [Theory]
    [InlineData("5\r\nhello\r\n0\r\n\r\n")]
    [InlineData("5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\n\r\n")]
    [InlineData("5\nhello\n0\n\n")]
    [InlineData("3\r\nabc\r\n0\r\nTrailer: x\r\nOther: y\r\n\r\n")]
    public void A_chunked_body_split_anywhere_ends_where_the_next_request_starts(string body)
    {
        byte[] bytes = Encoding.ASCII.GetBytes(body + Next);
        for (int split = 0; split <= body.Length; split++)
        {
            var skipper = new BodySkipper();
            skipper.StartChunked();
            BodySkipper.Result first = skipper.Skip(bytes.AsSpan(0, split), 1 << 20, 4096, out int used);
            int total = used;
            if (first == BodySkipper.Result.NeedMoreData)
            {
                Assert.Equal(split, used); // everything given was body
                Assert.Equal(BodySkipper.Result.Done, skipper.Skip(bytes.AsSpan(total), 1 << 20, 4096, out used));
                total += used;
            }
            else
            {
                Assert.Equal(BodySkipper.Result.Done, first);
            }

            Assert.Equal(body.Length, total);
        }
    }

    [Theory]
    [InlineData("x\r\n", "Malformed")]
    [InlineData("\r\n", "Malformed")]
    [InlineData("5\r\nhelloX\r\n", "Malformed")]
    [InlineData("401\r\n", "TooLarge")] // 1025 bytes against a 1024-byte limit
    [InlineData("FFFFFFFFFFFFFFFFFFFF\r\n", "TooLarge")]
    public void Bad_or_oversized_chunks_are_reported(string body, string expected)
    {
        var skipper = new BodySkipper();
        skipper.StartChunked();
        Assert.Equal(Enum.Parse<BodySkipper.Result>(expected), skipper.Skip(Encoding.ASCII.GetBytes(body), 1024, 4096, out _));
    }

    [Fact]
    public void The_chunked_limit_counts_the_whole_body_exactly()
    {
        var skipper = new BodySkipper();
        skipper.StartChunked();
        byte[] fits = Encoding.ASCII.GetBytes("200\r\n" + new string('a', 512) + "\r\n200\r\n" + new string('b', 512) + "\r\n0\r\n\r\n");
        Assert.Equal(BodySkipper.Result.Done, skipper.Skip(fits, 1024, 4096, out _));
        skipper.StartChunked();
        byte[] over = Encoding.ASCII.GetBytes("200\r\n" + new string('a', 512) + "\r\n201\r\n");
        Assert.Equal(BodySkipper.Result.TooLarge, skipper.Skip(over, 1024, 4096, out _));
    }

    [Fact]
    public void Trailers_are_bounded()
    {
        var skipper = new BodySkipper();
        skipper.StartChunked();
        byte[] bytes = Encoding.ASCII.GetBytes("0\r\nX: " + new string('t', 200) + "\r\n\r\n");
        Assert.Equal(BodySkipper.Result.TooLarge, skipper.Skip(bytes, 1024, 100, out _));
    }

    [Fact]
    public void A_content_length_body_is_skipped_across_reads()
    {
        var skipper = new BodySkipper();
        skipper.StartLength(10);
        Assert.Equal(BodySkipper.Result.NeedMoreData, skipper.Skip(new byte[4], 100, 100, out int used));
        Assert.Equal(4, used);
        Assert.Equal(BodySkipper.Result.Done, skipper.Skip(new byte[20], 100, 100, out used));
        Assert.Equal(6, used);
        Assert.False(skipper.Active);
    }
}
