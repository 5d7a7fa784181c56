namespace Parley.Udp.Tests;

public class ReassemblerTests
{
    private const int Chunk = Reassembler.ChunkSize;

    private BufferStore Store { get; } = new(1 << 20);

    private static ReassemblyBudget.Share Unlimited => new ReassemblyBudget(long.MaxValue).Unshared();

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
        var reassembler = new Reassembler(1 << 20, 16, long.MaxValue, 10_000_000, evictWhenFull: true, Unlimited, Store);
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
        var reassembler = new Reassembler(1 << 20, 16, long.MaxValue, expiryMicros: 10_000_000, evictWhenFull: true, Unlimited, Store);
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
        var reassembler = new Reassembler(maxMessageSize: 4000, maxIncomplete: 4, maxReservedBytes: long.MaxValue, expiryMicros: 10_000_000, evictWhenFull: true, Unlimited, Store);
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
        var reassembler = new Reassembler(1 << 20, maxIncomplete: 2, maxReservedBytes: long.MaxValue, expiryMicros: long.MaxValue, evictWhenFull: false, Unlimited, Store);
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
    public void Every_message_in_progress_holds_the_chunks_its_fragments_landed_in_against_the_host_budget_until_it_ends()
    {
        var budget = new ReassemblyBudget(3 * Chunk);
        var first = new Reassembler(1 << 20, 16, long.MaxValue, expiryMicros: 1_000, evictWhenFull: true, budget.Unshared(), Store);
        var second = new Reassembler(1 << 20, 16, long.MaxValue, expiryMicros: long.MaxValue, evictWhenFull: false, budget.Unshared(), Store);
        Assert.Equal(AssemblyResult.Incomplete, Add(first, 1, 0, 2, 6000, new byte[3000]));
        Assert.Equal(Chunk, budget.UsedBytes); // one chunk so far, not the 6000 declared
        Assert.Equal(6000, first.ReservedBytes);
        Assert.Equal(Chunk, first.RentedBytes);
        Assert.Equal(AssemblyResult.NoRoom, Add(second, 1, 0, 2, 20_000, new byte[10_000])); // three chunks: the host's budget is shared
        Assert.Equal(Chunk, budget.UsedBytes);                                                 // and what it rented went back
        Assert.Equal(0, second.Incomplete);
        Assert.Equal(AssemblyResult.Incomplete, Add(second, 2, 0, 2, 4000, new byte[2000]));
        Assert.Equal(2 * Chunk, budget.UsedBytes);

        first.ExpireStale(now: 2_000); // an expired message gives its chunks back
        Assert.Equal(Chunk, budget.UsedBytes);
        Assert.Equal(AssemblyResult.Complete, second.Add(2, 1, 2, 4000, new byte[2000], 0, out byte[]? whole, out _));
        Store.Return(whole!);
        Assert.Equal(0, budget.UsedBytes);
        Assert.Equal(AssemblyResult.Incomplete, Add(second, 3, 0, 2, 6000, new byte[3000]));
        second.Clear(); // and so does an ended session
        Assert.Equal(0, budget.UsedBytes);
        Assert.Equal(1, budget.Refusals);
    }

    [Fact]
    public void A_one_byte_last_fragment_of_a_one_mebibyte_message_costs_a_small_buffer_not_the_declared_size()
    {
        // Review R1/R2: a 52-byte datagram opened a 1 MiB reassembly (rented up front).
        var budget = new ReassemblyBudget(long.MaxValue);
        var reassembler = new Reassembler(1 << 20, 16, long.MaxValue, long.MaxValue, evictWhenFull: false, budget.Unshared(), Store);
        const uint total = (4095 * 256) + 1;
        Assert.Equal(AssemblyResult.Incomplete, Add(reassembler, 1, 4095, 4096, total, new byte[1]));
        Assert.Equal(total, reassembler.ReservedBytes);
        Assert.Equal(Chunk, reassembler.RentedBytes); // one chunk
        Assert.Equal(Chunk, budget.UsedBytes);

        // The rest of the message comes: the whole is one buffer, and every chunk goes back.
        var random = new Random(7);
        byte[] message = new byte[total];
        random.NextBytes(message);
        message[^1] = 0;
        AssemblyResult result = AssemblyResult.Incomplete;
        byte[]? whole = null;
        for (int i = 0; i < 4095; i++)
        {
            result = reassembler.Add(1, (ushort)i, 4096, total, message.AsSpan(i * 256, 256), 0, out whole, out int length);
            Assert.True(result != AssemblyResult.Complete || length == total);
        }

        Assert.Equal(AssemblyResult.Complete, result);
        Assert.Equal(message, whole.AsSpan(0, (int)total).ToArray());
        Store.Return(whole!);
        Assert.Equal(0, budget.UsedBytes);
        Assert.Equal(0, Store.Outstanding);
    }

    [Fact]
    public void Messages_in_progress_are_bounded_by_their_declared_bytes_and_the_stalest_makes_room()
    {
        var reassembler = new Reassembler(1 << 20, 16, maxReservedBytes: 2 << 20, expiryMicros: long.MaxValue - 1, evictWhenFull: true, Unlimited, Store);
        const uint total = 1 << 20;
        for (uint id = 0; id < 5; id++)
        {
            Assert.Equal(AssemblyResult.Incomplete, Add(reassembler, id, 0, 4, total, new byte[total / 4], now: id));
        }

        Assert.Equal(2, reassembler.Incomplete);
        Assert.Equal(2L << 20, reassembler.ReservedBytes);
        Assert.Equal(3, reassembler.Evicted);
        Assert.False(reassembler.Contains(2));
        Assert.True(reassembler.Contains(4));
        reassembler.Clear();
    }

    [Fact]
    public void The_sessions_of_one_address_share_a_part_of_the_budget_and_other_addresses_keep_room()
    {
        var budget = new ReassemblyBudget(maxBytes: 8 * Chunk, maxBytesPerAddress: 2 * Chunk);
        UInt128 hog = 66, other = 2;
        ReassemblyBudget.Share[] hogShares = [budget.Join(hog), budget.Join(hog), budget.Join(hog)];
        Assert.Equal(1, budget.ShareCount);
        var hogs = hogShares.Select(s => new Reassembler(1 << 20, 16, long.MaxValue, long.MaxValue, evictWhenFull: false, s, Store)).ToList();
        Assert.Equal(AssemblyResult.Incomplete, Add(hogs[0], 1, 0, 2, 8192, new byte[4096]));
        Assert.Equal(AssemblyResult.Incomplete, Add(hogs[1], 1, 0, 2, 8192, new byte[4096]));
        Assert.Equal(AssemblyResult.NoRoom, Add(hogs[2], 1, 0, 2, 8192, new byte[4096])); // the address's share is spent
        Assert.Equal(2 * Chunk, hogShares[0].UsedBytes);

        var others = new Reassembler(1 << 20, 16, long.MaxValue, long.MaxValue, evictWhenFull: false, budget.Join(other), Store);
        Assert.Equal(AssemblyResult.Incomplete, Add(others, 1, 0, 2, 8192, new byte[4096])); // another address still has room
        Assert.Equal(3 * Chunk, budget.UsedBytes);

        foreach ((Reassembler r, ReassemblyBudget.Share s) in hogs.Zip(hogShares))
        {
            r.Clear();
            budget.Leave(s);
        }

        others.Clear();
        Assert.Equal(0, budget.UsedBytes);
        Assert.Equal(1, budget.ShareCount); // the other address's session has not ended
    }

    [Fact]
    public void Every_buffer_a_reassembly_takes_goes_back_to_the_store()
    {
        var reassembler = new Reassembler(1 << 20, 4, long.MaxValue, expiryMicros: 1_000, evictWhenFull: true, Unlimited, Store);
        Assert.Equal(AssemblyResult.Incomplete, Add(reassembler, 1, 0, 2, 200_000, new byte[100_000]));   // larger than the store's classes
        Assert.Equal(AssemblyResult.Incomplete, Add(reassembler, 2, 0, 2, 1000, new byte[500]));
        Assert.Equal(AssemblyResult.Incomplete, Add(reassembler, 3, 0, 2, 1000, new byte[500], now: 500));
        Assert.Equal(25 + 2, Store.Outstanding);                                                         // 100 000 bytes land in 25 chunks
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
