namespace Parley.Chat.Tests;

/// <summary>The per-room history ring against a plain list that applies the same budget rule.</summary>
public class HistoryRingTests
{
    [Theory]
    [InlineData(1, 300, 7)] // every size, a budget a few messages wide
    [InlineData(2, 5_000, 3)]
    [InlineData(3, 64 * 1024, 1)]
    [InlineData(4, 120, 40)] // most messages alone exceed the budget: the newest is still kept
    public void Keeps_exactly_the_newest_messages_within_the_budget_whatever_their_sizes(int seed, long budget, int sizeScale)
    {
        var random = new Random(seed);
        var ring = new HistoryRing(budget);
        var model = new List<(long Id, byte[] Bytes)>();
        int largest = 0, most = 0;
        for (long id = 1; id <= 20_000; id++)
        {
            byte[] message = new byte[random.Next(2, 60) * sizeScale];
            random.NextBytes(message);
            largest = Math.Max(largest, message.Length);
            ring.Add(id, message);
            model.Add((id, message));
            while (model.Count > 1 && model.Sum(m => m.Bytes.Length + 1L) > budget)
            {
                model.RemoveAt(0);
            }

            most = Math.Max(most, model.Count);

            if (id % 97 == 0 || id < 50)
            {
                Assert.Equal(model.Count, ring.Count);
                Assert.Equal(model.Sum(m => m.Bytes.Length + 1L), ring.UsedBytes);
                for (int i = 0; i < model.Count; i++)
                {
                    Assert.Equal(model[i].Id, ring.Id(i));
                    Assert.True(model[i].Bytes.AsSpan().SequenceEqual(ring.Message(i)), $"message {model[i].Id} differs");
                }
            }
        }

        // Memory: the budget plus the largest message, and an index of 16 bytes a message (doubling).
        Assert.InRange(ring.HeldBytes, 1, budget + largest + (16 * Math.Max(16, 2 * most)));
    }

    [Fact]
    public void A_page_is_the_newest_below_an_id_within_count_and_bytes_and_says_whether_older_ones_are_kept()
    {
        var ring = new HistoryRing(10_000);
        for (long id = 10; id <= 100; id += 10)
        {
            ring.Add(id, new byte[99]); // 100 bytes each with its comma
        }

        Assert.Equal((7, 3), ring.Page(long.MaxValue, 3, 10_000, out bool more));
        Assert.True(more);
        Assert.Equal((2, 3), ring.Page(60, 3, 10_000, out more)); // ids 30, 40, 50
        Assert.True(more);
        Assert.Equal((0, 2), ring.Page(30, 50, 10_000, out more)); // ids 10, 20
        Assert.False(more);
        Assert.Equal((0, 0), ring.Page(10, 50, 10_000, out more));
        Assert.False(more);
        Assert.Equal((6, 4), ring.Page(long.MaxValue, 50, 400, out more)); // 4 × 100 bytes
        Assert.True(more);
        Assert.Equal((9, 1), ring.Page(long.MaxValue, 50, 10, out more)); // one at least, even past the bytes
        Assert.True(more);
    }

    [Fact]
    public void An_unwritten_room_holds_no_memory_and_clearing_lets_it_go()
    {
        var ring = new HistoryRing(512 * 1024);
        Assert.Equal(0, ring.HeldBytes);
        ring.Add(1, new byte[100]);
        Assert.InRange(ring.HeldBytes, 100, 4096);
        ring.Clear();
        Assert.Equal((0, 0L, 0L), (ring.Count, ring.UsedBytes, ring.HeldBytes));
    }
}
