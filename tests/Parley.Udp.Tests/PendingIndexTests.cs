namespace Parley.Udp.Tests;

public class PendingIndexTests
{
    private static OutgoingMessage Message(uint id) => new() { Id = id };

    [Fact]
    public void Messages_are_found_by_id_and_the_array_grows_only_when_ids_collide()
    {
        var index = new PendingIndex(maxSlots: 128);
        OutgoingMessage[] messages = [.. Enumerable.Range(1, 64).Select(i => Message((uint)i))];
        Assert.All(messages, m => Assert.True(index.TryAdd(m)));
        Assert.Equal(64, index.SlotCount); // 64 consecutive ids fit the first size
        Assert.All(messages, m => Assert.Same(m, index.Find(m.Id)));
        Assert.Null(index.Find(65)); // same slot as id 1, another id

        OutgoingMessage late = Message(65);
        Assert.True(index.TryAdd(late));
        Assert.Equal(128, index.SlotCount);
        Assert.Same(late, index.Find(65));
        Assert.All(messages, m => Assert.Same(m, index.Find(m.Id))); // nothing lost in the move
        Assert.Equal(65, index.Count);
    }

    [Fact]
    public void At_its_largest_an_id_whose_slot_is_taken_is_refused_until_the_old_one_goes()
    {
        var index = new PendingIndex(maxSlots: 128);
        OutgoingMessage stuck = Message(1);
        Assert.True(index.TryAdd(stuck));
        Assert.True(index.TryAdd(Message(64)));
        Assert.True(index.TryAdd(Message(65))); // collides with 1 at 64 slots: grows to 128
        OutgoingMessage wrapped = Message(129);
        Assert.False(index.TryAdd(wrapped)); // slot 1 of 128 still holds id 1
        Assert.Equal(3, index.Count);

        index.Remove(stuck);
        Assert.Null(index.Find(1));
        Assert.True(index.TryAdd(wrapped));
        Assert.Same(wrapped, index.Find(129));
        Assert.Equal(3, index.Count);
        Assert.Equal([64u, 65u, 129u], index.ToList().Select(m => m.Id).Order());
    }
}
