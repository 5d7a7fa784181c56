namespace Parley.Chat.Tests;

public class MessageIdListTests
{
    private static List<long> Page(MessageIdList list, long before, int limit, out bool more)
    {
        var into = new List<long>();
        more = list.NewestBefore(before, limit, into);
        return into;
    }

    [Fact]
    public void Pages_are_the_newest_ids_below_before_across_blocks_with_any_gaps()
    {
        var list = new MessageIdList();
        var ids = new List<long>();
        long id = 0;
        var random = new Random(7);
        for (int i = 0; i < 1000; i++)
        {
            // Gaps from 1 to past what one varint byte holds, and a few huge ones.
            id += i % 97 == 0 ? 1L << 40 : random.Next(1, 400);
            ids.Add(id);
            list.Add(id);
        }

        Assert.Equal(1000, list.Count);
        Assert.Equal(ids[0], list.First);
        foreach (int limit in new[] { 1, 5, 127, 128, 129, 200, 1000, 5000 })
        {
            foreach (int at in new[] { 0, 1, 127, 128, 129, 255, 256, 500, 999 })
            {
                List<long> page = Page(list, ids[at], limit, out bool more);
                int from = Math.Max(0, at - limit);
                Assert.Equal(ids[from..at], page);
                Assert.Equal(from > 0, more);
            }

            Assert.Equal(ids[Math.Max(0, 1000 - limit)..], Page(list, long.MaxValue, limit, out _));
            Assert.Equal(ids[..1], Page(list, ids[0] + 1, limit, out bool moreFirst));
            Assert.False(moreFirst);
        }
    }

    [Fact]
    public void Ids_at_or_below_the_last_are_ignored()
    {
        var list = new MessageIdList();
        list.Add(5);
        list.Add(5);
        list.Add(3);
        list.Add(9);
        Assert.Equal(2, list.Count);
        Assert.Equal([5L, 9L], Page(list, long.MaxValue, 10, out _));
    }

    [Fact]
    public void Trimming_drops_whole_blocks_below_the_first_kept_id_and_frees_the_space()
    {
        var list = new MessageIdList();
        for (long id = 1; id <= 10_000; id++)
        {
            list.Add(id * 3);
        }

        long held = list.HeldBytes;
        list.TrimBefore(9_000 * 3);
        Assert.True(list.First <= 9_000 * 3 && list.First > 9_000 * 3 - (MessageIdList.Block * 3));
        Assert.True(list.Count < 1000 + MessageIdList.Block);
        Assert.Equal([27_003L, 27_006L], Page(list, 27_009, 2, out bool more));
        Assert.True(more);

        // Adding after a trim compacts rather than grows.
        for (long id = 10_001; id <= 20_000; id++)
        {
            list.Add(id * 3);
            if (id % 500 == 0)
            {
                list.TrimBefore((id - 1000) * 3);
            }
        }

        Assert.True(list.HeldBytes <= held, $"held {list.HeldBytes} after trimming, {held} for 10 000 ids");
        Assert.Equal([59_997L, 60_000L], Page(list, long.MaxValue, 2, out _));

        list.TrimBefore(long.MaxValue);
        Assert.Equal(0, list.Count);
        Assert.False(list.HasBefore(long.MaxValue));
        list.Add(60_003);
        Assert.Equal([60_003L], Page(list, long.MaxValue, 5, out bool none));
        Assert.False(none);
    }

    [Fact]
    public void Ids_trimmed_in_the_middle_of_a_block_are_never_offered()
    {
        var list = new MessageIdList();
        for (long id = 1; id <= 300; id++)
        {
            list.Add(id);
        }

        list.TrimBefore(150); // inside the second block
        Assert.Equal(150, list.First);
        Assert.False(list.HasBefore(150));
        Assert.True(list.HasBefore(151));
        Assert.Equal([150L, 151L, 152L], Page(list, 153, 10, out bool more));
        Assert.False(more);
        Assert.Empty(Page(list, 150, 10, out bool none));
        Assert.False(none);
        Assert.Equal([155L, 156L], Page(list, 157, 2, out bool older));
        Assert.True(older);

        list.TrimBefore(100); // lower than before: nothing changes
        Assert.Equal(150, list.First);
        list.TrimBefore(301); // past the last: empty
        Assert.Equal(0, list.Count);
        Assert.Equal(0, list.First);
    }

    [Fact]
    public void A_busy_rooms_ids_take_about_a_byte_each()
    {
        var list = new MessageIdList();
        for (long id = 1; id <= 100_000; id++)
        {
            list.Add(id * 24); // one message in 24 of the server's
        }

        Assert.True(list.HeldBytes < 100_000 * 2, $"{list.HeldBytes} bytes for 100 000 ids");
    }
}
