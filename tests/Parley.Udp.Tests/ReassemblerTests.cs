namespace Parley.Udp.Tests;

public class ReassemblerTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 22, 0, 0, 0, TimeSpan.Zero);

    private static List<byte[]> Fragments(byte[] message, int size) =>
        [.. Enumerable.Range(0, (message.Length + size - 1) / size).Select(i => message[(i * size)..Math.Min(message.Length, (i + 1) * size)])];

    [Fact]
    public void Fragments_in_any_order_with_duplicates_give_the_message_exactly_once()
    {
        var random = new Random(5);
        byte[] message = new byte[10_000];
        random.NextBytes(message);
        List<byte[]> pieces = Fragments(message, 1000);
        var reassembler = new Reassembler(1 << 20, 16, TimeSpan.FromSeconds(10), new ManualClock(Start));
        var order = Enumerable.Range(0, pieces.Count).Concat([3, 3, 7]).OrderBy(_ => random.Next()).ToList();
        var completed = new List<byte[]>();
        foreach (int i in order)
        {
            if (reassembler.Add(1, (ushort)i, (ushort)pieces.Count, pieces[i]) is { } whole)
            {
                completed.Add(whole);
            }
        }

        Assert.Equal(message, Assert.Single(completed));

        // A duplicate arriving after completion can only start a partial that expires (the
        // reliable layer drops whole-message duplicates by id before they get here).
        Assert.True(reassembler.Incomplete <= 1);
        Assert.True(reassembler.BufferedBytes <= 1000);
    }

    [Fact]
    public void An_incomplete_message_expires_and_its_memory_is_released()
    {
        var clock = new ManualClock(Start);
        var reassembler = new Reassembler(1 << 20, 16, TimeSpan.FromSeconds(10), clock);
        Assert.Null(reassembler.Add(1, 0, 3, new byte[500]));
        Assert.Equal(500, reassembler.BufferedBytes);
        clock.Advance(TimeSpan.FromSeconds(11));
        reassembler.ExpireStale();
        Assert.Equal(0, reassembler.Incomplete);
        Assert.Equal(0, reassembler.BufferedBytes);
        Assert.Equal(1, reassembler.Expired);
        Assert.Null(reassembler.Add(1, 1, 3, new byte[500])); // a late fragment starts over, it does not complete anything
    }

    [Fact]
    public void Memory_stays_bounded_by_the_incomplete_limit_and_the_message_size_limit()
    {
        var clock = new ManualClock(Start);
        var reassembler = new Reassembler(maxMessageSize: 4000, maxIncomplete: 4, TimeSpan.FromSeconds(10), clock);
        for (uint id = 0; id < 100; id++)
        {
            clock.Advance(TimeSpan.FromMilliseconds(1));
            reassembler.Add(id, 0, 4, new byte[1000]); // never completed
        }

        Assert.Equal(4, reassembler.Incomplete);
        Assert.Equal(96, reassembler.Evicted);
        Assert.Equal(4000, reassembler.BufferedBytes);

        Assert.Null(reassembler.Add(500, 0, 60_000, new byte[1000])); // claims a 60 MB message
        Assert.Null(reassembler.Add(501, 0, 1, new byte[5000]));      // one piece over the limit
        Assert.Equal(2, reassembler.Refused);

        // Pieces that add up past the limit drop the message.
        Assert.Null(reassembler.Add(600, 0, 5, new byte[1000]));
        Assert.Null(reassembler.Add(600, 1, 5, new byte[1000]));
        Assert.Null(reassembler.Add(600, 2, 5, new byte[1000]));
        Assert.Null(reassembler.Add(600, 3, 5, new byte[1000]));
        Assert.Null(reassembler.Add(600, 4, 5, new byte[1000]));
        Assert.Equal(3, reassembler.Refused);
    }
}
