namespace Parley.Udp.Tests;

/// <summary>Message frames into whole messages, in order, once, within the credit: reassembly and ordering on their own.</summary>
public class InboundMessagesTests
{
    private sealed class Sink(BufferStore store) : IInboundSink
    {
        public List<(uint Id, byte[] Data, DeliveryMode Mode)> Delivered { get; } = [];

        public void Deliver(ReadOnlySpan<byte> data, byte[]? owned, byte channel, DeliveryMode mode, uint id)
        {
            Delivered.Add((id, data.ToArray(), mode));
            if (owned is not null)
            {
                store.Return(owned);
            }
        }
    }

    private sealed class Fixture
    {
        public Fixture(UdpHostOptions? options = null)
        {
            options ??= new UdpHostOptions { MaxEnqueuedMessages = 16, ReceiveWindowBytes = 64 * 1024, MaxMessageSize = 16 * 1024 };
            Store = new BufferStore(1 << 20);
            Credit = new ReceiveCredit(options.ReceiveWindowBytes);
            Sink = new Sink(Store);
            Inbound = new InboundMessages(options, Credit, new ReassemblyBudget(1 << 20).Unshared(), Store, Sink);
        }

        public BufferStore Store { get; }

        public ReceiveCredit Credit { get; }

        public Sink Sink { get; }

        public InboundMessages Inbound { get; }

        public bool Take(DeliveryMode mode, uint id, uint sequence, byte[] data, ushort fragment = 0, ushort fragments = 1, uint total = 0) =>
            Inbound.Take(new MessageFrame(0, mode, id, sequence, fragment, fragments, data, total), now: 0);
    }

    [Fact]
    public void Ordered_messages_that_arrive_early_wait_and_are_delivered_in_order()
    {
        var f = new Fixture();
        Assert.True(f.Take(DeliveryMode.ReliableOrdered, 12, 2, [2]));
        Assert.True(f.Take(DeliveryMode.ReliableOrdered, 11, 1, [1]));
        Assert.Empty(f.Sink.Delivered);
        Assert.True(f.Credit.WaitingBytes == 2 && f.Credit.WaitingExtraBytes > 0);
        Assert.True(f.Take(DeliveryMode.ReliableOrdered, 10, 0, [0]));
        Assert.Equal([10u, 11, 12], f.Sink.Delivered.Select(d => d.Id));
        Assert.Equal(0, f.Credit.WaitingBytes);
        Assert.Equal(0, f.Credit.WaitingExtraBytes);
        Assert.Equal(3, f.Credit.Unconsumed); // until the application consumed them
        Assert.Equal(0, f.Store.Outstanding);
    }

    [Fact]
    public void A_reliable_message_that_comes_again_is_taken_once_and_counted()
    {
        var f = new Fixture();
        Assert.True(f.Take(DeliveryMode.ReliableUnordered, 1, 1, [1])); // ahead of 0: delivered at once (unordered)
        Assert.True(f.Take(DeliveryMode.ReliableUnordered, 1, 1, [1]));
        Assert.True(f.Take(DeliveryMode.ReliableOrdered, 5, 0, [5]));
        Assert.True(f.Take(DeliveryMode.ReliableOrdered, 5, 0, [5]));
        Assert.Equal([1u, 5], f.Sink.Delivered.Select(d => d.Id));
        Assert.Equal(2, f.Inbound.DuplicateMessages);
    }

    [Fact]
    public void A_message_beyond_the_sequence_window_or_the_credit_is_refused()
    {
        var f = new Fixture();
        Assert.False(f.Take(DeliveryMode.ReliableOrdered, 1, 16, [1])); // the window given to the peer is 16
        Assert.False(f.Take(DeliveryMode.ReliableUnordered, 2, 0, new byte[(64 * 1024) + 1]));
        Assert.False(f.Inbound.Take(new MessageFrame(9, DeliveryMode.ReliableOrdered, 3, 0, 0, 1, [1]), 0)); // no such channel
        Assert.Empty(f.Sink.Delivered);
    }

    [Fact]
    public void Fragments_are_reassembled_and_charged_their_declared_total_from_the_first()
    {
        var f = new Fixture();
        byte[] whole = [.. Enumerable.Range(0, 600).Select(i => (byte)i)];
        Assert.True(f.Take(DeliveryMode.ReliableOrdered, 7, 0, whole[300..], fragment: 1, fragments: 2, total: 600));
        Assert.Equal(600, f.Credit.Unconsumed);
        Assert.Equal(600, f.Inbound.ReliableHeldBytes);
        Assert.True(f.Take(DeliveryMode.ReliableOrdered, 7, 0, whole[300..], fragment: 1, fragments: 2, total: 600)); // again: a duplicate
        Assert.Equal(1, f.Inbound.DuplicateMessages);
        Assert.True(f.Take(DeliveryMode.ReliableOrdered, 7, 0, whole[..300], fragment: 0, fragments: 2, total: 600));
        Assert.Equal(whole, Assert.Single(f.Sink.Delivered).Data);
        Assert.Equal(600, f.Credit.Unconsumed); // charged once
        Assert.Equal(0, f.Store.Outstanding);
    }

    [Fact]
    public void Unreliable_messages_are_delivered_as_they_come_and_their_fragments_reassembled()
    {
        var f = new Fixture();
        Assert.True(f.Take(DeliveryMode.Unreliable, 0x8000_0002, 0, [2]));
        Assert.True(f.Take(DeliveryMode.Unreliable, 0x8000_0001, 0, [1]));
        Assert.True(f.Take(DeliveryMode.Unreliable, 0x8000_0003, 0, new byte[300], fragment: 1, fragments: 2, total: 600));
        Assert.True(f.Take(DeliveryMode.Unreliable, 0x8000_0003, 0, new byte[300], fragment: 0, fragments: 2, total: 600));
        Assert.Equal([0x8000_0002u, 0x8000_0001, 0x8000_0003], f.Sink.Delivered.Select(d => d.Id));
        Assert.Equal(0, f.Credit.Unconsumed); // not flow-controlled
    }

    [Fact]
    public void Releasing_gives_every_held_buffer_back()
    {
        var f = new Fixture();
        f.Take(DeliveryMode.ReliableOrdered, 2, 2, [2]);
        f.Take(DeliveryMode.ReliableOrdered, 3, 3, new byte[300], fragment: 0, fragments: 2, total: 600);
        f.Take(DeliveryMode.Unreliable, 0x8000_0001, 0, new byte[300], fragment: 0, fragments: 2, total: 600);
        Assert.True(f.Store.Outstanding > 0);
        f.Inbound.Release();
        Assert.Equal(0, f.Store.Outstanding);
        Assert.Equal(0, f.Inbound.ReliableHeldBytes);
    }
}
