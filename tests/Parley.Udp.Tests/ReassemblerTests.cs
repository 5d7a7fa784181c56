namespace Parley.Udp.Tests;

public class ReassemblerTests
{
    private BufferStore Store { get; } = new(1 << 20);

    private static List<byte[]> Fragments(byte[] message, int count)
    {
        int size = MessageFrame.FragmentSize(message.Length, count);
        return [.. Enumerable.Range(0, count).Select(i => message[(i * size)..Math.Min(message.Length, (i + 1) * size)])];
    }

    private static AssemblyResult Add(Reassembler reassembler, uint id, int fragment, int fragments, uint total, byte[] data, long now = 0) =>
        reassembler.Add(id, (ushort)fragment, (ushort)fragments, total, data, now, out _, out _);

    [Fact]
    public void Fragments_in_any_order_with_duplicates_give_the_message_exactly_once()
    {
        var random = new Random(5);
        byte[] message = new byte[10_000];
        random.NextBytes(message);
        List<byte[]> pieces = Fragments(message, 11);
        var reassembler = new Reassembler(1 << 20, 16, 10_000_000, evictWhenFull: true, new ReassemblyBudget(long.MaxValue), Store);
        var order = Enumerable.Range(0, pieces.Count).Concat([3, 3, 7]).OrderBy(_ => random.Next()).ToList();
        var completed = new List<byte[]>();
        var duplicates = 0;
        foreach (int i in order)
        {
            AssemblyResult result = reassembler.Add(1, (ushort)i, (ushort)pieces.Count, (uint)message.Length, pieces[i], 0, out byte[]? whole, out int length);
            if (result == AssemblyResult.Complete)
            {
                completed.Add(whole.AsSpan(0, length).ToArray());
                Store.Return(whole!);
            }

            duplicates += result == AssemblyResult.Duplicate ? 1 : 0;
        }

        Assert.Equal(message, Assert.Single(completed));
        Assert.True(duplicates >= 1);

        // A duplicate arriving after completion can only start a partial that expires (the
        // reliable layer drops whole-message duplicates by sequence before they get here).
        Assert.True(reassembler.Incomplete <= 1);
        Assert.True(reassembler.BufferedBytes <= 2 * MessageFrame.FragmentSize(message.Length, 11));
    }

    [Fact]
    public void An_incomplete_message_expires_and_its_memory_is_released()
    {
        var reassembler = new Reassembler(1 << 20, 16, expiryMicros: 10_000_000, evictWhenFull: true, new ReassemblyBudget(long.MaxValue), Store);
        Assert.Equal(AssemblyResult.Incomplete, Add(reassembler, 1, 0, 3, 1500, new byte[500], now: 0));
        Assert.Equal(500, reassembler.BufferedBytes);
        reassembler.ExpireStale(11_000_000);
        Assert.Equal(0, reassembler.Incomplete);
        Assert.Equal(0, reassembler.BufferedBytes);
        Assert.Equal(1, reassembler.Expired);
        Assert.Equal(AssemblyResult.Incomplete, Add(reassembler, 1, 1, 3, 1500, new byte[500], now: 11_000_001)); // a late fragment starts over
    }

    [Fact]
    public void Memory_stays_bounded_by_the_incomplete_limit_and_the_message_size_limit()
    {
        var reassembler = new Reassembler(maxMessageSize: 4000, maxIncomplete: 4, expiryMicros: 10_000_000, evictWhenFull: true, new ReassemblyBudget(long.MaxValue), Store);
        for (uint id = 0; id < 100; id++)
        {
            Add(reassembler, id, 0, 4, 4000, new byte[1000], now: id * 1000); // never completed
        }

        Assert.Equal(4, reassembler.Incomplete);
        Assert.Equal(96, reassembler.Evicted);
        Assert.Equal(4000, reassembler.BufferedBytes);

        Assert.Equal(AssemblyResult.Refused, Add(reassembler, 500, 0, 60_000, 60_000_000, new byte[1000])); // claims a 60 MB message
        Assert.Equal(AssemblyResult.Refused, Add(reassembler, 501, 0, 4, 4000, new byte[999]));             // wrong length for its place
        Assert.Equal(AssemblyResult.Refused, Add(reassembler, 502, 4, 4, 4000, new byte[1000]));            // fragment out of range
        Assert.Equal(3, reassembler.Refused);

        // A later fragment that disagrees with the first about the message is refused.
        Assert.Equal(AssemblyResult.Incomplete, Add(reassembler, 600, 0, 4, 4000, new byte[1000], now: 200_000));
        Assert.Equal(AssemblyResult.Refused, Add(reassembler, 600, 1, 2, 2000, new byte[1000], now: 200_000));
        reassembler.Clear();
        Assert.Equal(0, reassembler.BufferedBytes);
    }

    [Fact]
    public void Without_eviction_a_new_message_past_the_limit_is_refused_and_the_ones_in_progress_complete()
    {
        var reassembler = new Reassembler(1 << 20, maxIncomplete: 2, expiryMicros: long.MaxValue, evictWhenFull: false, new ReassemblyBudget(long.MaxValue), Store);
        Assert.Equal(AssemblyResult.Incomplete, Add(reassembler, 1, 0, 2, 1000, new byte[500]));
        Assert.Equal(AssemblyResult.Incomplete, Add(reassembler, 2, 0, 2, 1000, new byte[500]));
        Assert.Equal(AssemblyResult.NoRoom, Add(reassembler, 3, 0, 2, 1000, new byte[500]));
        Assert.Equal(0, reassembler.Evicted);
        Assert.Equal(AssemblyResult.Complete, reassembler.Add(1, 1, 2, 1000, new byte[500], 0, out byte[]? whole, out _));
        Store.Return(whole!);
        Assert.Equal(AssemblyResult.Incomplete, Add(reassembler, 3, 0, 2, 1000, new byte[500])); // room again
        Assert.Equal(1, reassembler.NoRoom);
    }

    [Fact]
    public void Every_message_in_progress_holds_its_declared_size_against_the_host_budget_until_it_ends()
    {
        var budget = new ReassemblyBudget(10_000);
        var first = new Reassembler(1 << 20, 16, expiryMicros: 1_000, evictWhenFull: true, budget, Store);
        var second = new Reassembler(1 << 20, 16, expiryMicros: long.MaxValue, evictWhenFull: false, budget, Store);
        Assert.Equal(AssemblyResult.Incomplete, Add(first, 1, 0, 2, 6000, new byte[3000]));
        Assert.Equal(6000, budget.UsedBytes);
        Assert.Equal(6000, first.ReservedBytes);
        Assert.Equal(AssemblyResult.NoRoom, Add(second, 1, 0, 2, 6000, new byte[3000])); // the host's budget is shared
        Assert.Equal(AssemblyResult.Incomplete, Add(second, 2, 0, 2, 4000, new byte[2000]));
        Assert.Equal(10_000, budget.UsedBytes);

        first.ExpireStale(now: 2_000); // an expired message gives its share back
        Assert.Equal(4000, budget.UsedBytes);
        Assert.Equal(AssemblyResult.Complete, second.Add(2, 1, 2, 4000, new byte[2000], 0, out byte[]? whole, out _));
        Store.Return(whole!);
        Assert.Equal(0, budget.UsedBytes);
        Assert.Equal(AssemblyResult.Incomplete, Add(second, 3, 0, 2, 6000, new byte[3000]));
        second.Clear(); // and so does an ended session
        Assert.Equal(0, budget.UsedBytes);
        Assert.Equal(1, budget.Refusals);
    }

    [Fact]
    public void Every_buffer_a_reassembly_takes_goes_back_to_the_store()
    {
        var reassembler = new Reassembler(1 << 20, 4, expiryMicros: 1_000, evictWhenFull: true, new ReassemblyBudget(long.MaxValue), Store);
        Assert.Equal(AssemblyResult.Incomplete, Add(reassembler, 1, 0, 2, 200_000, new byte[100_000]));   // larger than the store's classes
        Assert.Equal(AssemblyResult.Incomplete, Add(reassembler, 2, 0, 2, 1000, new byte[500]));
        Assert.Equal(AssemblyResult.Incomplete, Add(reassembler, 3, 0, 2, 1000, new byte[500], now: 500));
        Assert.Equal(3, Store.Outstanding);
        reassembler.ExpireStale(now: 1_200);                                                            // 1 and 2 expire
        Assert.Equal(1, Store.Outstanding);
        Assert.Equal(AssemblyResult.Complete, reassembler.Add(3, 1, 2, 1000, new byte[500], 1_200, out byte[]? whole, out _));
        Assert.Equal(1, Store.Outstanding);                                                             // the caller holds it
        Store.Return(whole!);
        Add(reassembler, 4, 0, 2, 1000, new byte[500]);
        reassembler.Clear();
        Assert.Equal(0, Store.Outstanding);
    }
}
