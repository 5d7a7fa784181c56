namespace Parley.Chat.Tests;

public class MessageIdListPropertyTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void Matches_a_plain_list_under_random_adds_trims_clears_and_pages(int seed)
    {
        var random = new Random(seed);
        var list = new MessageIdList();
        var kept = new List<long>();
        long last = 0;
        for (int step = 0; step < 40_000; step++)
        {
            int op = random.Next(100);
            if (op < 80)
            {
                long delta = random.Next(10) switch
                {
                    0 => 1L << random.Next(7, 50),
                    1 => 0, // duplicate
                    _ => random.Next(1, 300),
                };
                long id = last + delta;
                list.Add(id);
                if (id > last)
                {
                    kept.Add(id);
                    last = id;
                }
            }
            else if (op < 90 && kept.Count > 0)
            {
                long first = kept[random.Next(kept.Count)] + random.Next(-2, 3);
                list.TrimBefore(first);
                kept.RemoveAll(k => k < first);
            }
            else if (op == 90 && random.Next(20) == 0)
            {
                list.Clear();
                kept.Clear();
            }
            else
            {
                long before = kept.Count == 0 || random.Next(5) == 0 ? long.MaxValue : kept[random.Next(kept.Count)] + random.Next(-1, 2);
                int limit = random.Next(4) == 0 ? random.Next(1, 400) : random.Next(1, 10);
                var into = new List<long>();
                bool more = list.NewestBefore(before, limit, into);
                List<long> below = kept.Where(k => k < before).ToList();
                List<long> expected = below.Skip(Math.Max(0, below.Count - limit)).ToList();
                Assert.Equal(expected, into);
                Assert.Equal(expected.Count > 0 && below.Count > expected.Count, more);
                Assert.Equal(below.Count > 0, list.HasBefore(before));
            }

            Assert.Equal(kept.Count == 0 ? 0 : kept[0], list.First);
        }
    }
}
