using System.Buffers.Binary;

namespace Parley.Udp.Tests;

/// <summary>Send limits, cancellation and the queued → sent → received → delivered states.</summary>
public class MessageTests
{
    [Fact]
    public void Send_reports_a_full_queue_too_large_messages_and_bad_channels_instead_of_growing()
    {
        var options = new UdpHostOptions { MaxPendingMessages = 10, MaxMessageSize = 10_000, ReceiveWindowBytes = 20_000, MaxPendingBytes = 20_000, Channels = 2 };
        (Simulation sim, _, _, UdpPeer toServer, _) = SessionTests.Connected(20, options: options);

        Assert.Equal(SendStatus.TooLarge, toServer.Send(new byte[10_001]).Status);
        Assert.Equal(SendStatus.InvalidChannel, toServer.Send([1], DeliveryMode.ReliableOrdered, 2).Status);
        for (int i = 0; i < 10; i++)
        {
            Assert.Equal(SendStatus.Queued, toServer.Send([1]).Status);
        }

        Assert.Equal(SendStatus.QueueFull, toServer.Send([1]).Status);
        Assert.Equal(10, toServer.GetStatistics().PendingMessages);
        Assert.True(sim.RunUntil(() => toServer.GetStatistics().PendingMessages == 0, TimeSpan.FromSeconds(5)));
        Assert.Equal(SendStatus.Queued, toServer.Send(new byte[10_000]).Status);
        Assert.Equal(SendStatus.Queued, toServer.Send(new byte[10_000]).Status);
        Assert.Equal(SendStatus.QueueFull, toServer.Send([1]).Status); // the bytes limit, 20 000, is reached
    }

    [Fact]
    public void A_message_not_yet_sent_can_be_cancelled_and_never_arrives()
    {
        (Simulation sim, UdpHost server, _, UdpPeer toServer, _) = SessionTests.Connected(21);
        var got = new List<int>();
        server.MessageReceived += (UdpPeer p, in UdpMessage m) => got.Add(m.Data[0]);
        uint a = toServer.Send([1]).MessageId;
        uint b = toServer.Send([2]).MessageId;
        uint c = toServer.Send([3], DeliveryMode.Unreliable).MessageId;
        Assert.True(toServer.Cancel(b));
        Assert.True(toServer.Cancel(c));
        Assert.Equal(MessageState.Cancelled, toServer.GetMessageState(b));
        Assert.True(sim.RunUntil(() => toServer.GetMessageState(a) == MessageState.Delivered, TimeSpan.FromSeconds(1)));
        Assert.False(toServer.Cancel(a)); // already delivered
        Assert.Equal([1], got);
        Assert.Equal(MessageState.Cancelled, toServer.GetMessageState(b));
        Assert.Equal(MessageState.Cancelled, toServer.GetMessageState(c));
        Assert.Equal(MessageState.Unknown, toServer.GetMessageState(12345));
    }

    [Fact]
    public void An_ordered_message_behind_a_lost_one_is_received_before_it_is_delivered()
    {
        // Drop exactly the first data packet the client sends, so message 1 is held until message 0 is retransmitted.
        (Simulation sim, _, UdpHost client, UdpPeer toServer, _) = SessionTests.Connected(22, new NetworkConditions { Delay = TimeSpan.FromMilliseconds(10) }, new UdpHostOptions { MtuProbing = false });
        var events = new List<(uint Id, MessageState State)>();
        client.MessageStateChanged += (p, id, state) => events.Add((id, state));

        sim.Network.Conditions = sim.Network.Conditions with { Loss = 1 };
        uint first = toServer.Send([0]).MessageId;
        sim.RunFor(TimeSpan.FromMilliseconds(1)); // message 0 goes out alone and is lost
        sim.Network.Conditions = sim.Network.Conditions with { Loss = 0 };
        uint second = toServer.Send([1]).MessageId;
        Assert.True(sim.RunUntil(() => toServer.GetMessageState(second) == MessageState.Received, TimeSpan.FromSeconds(1)));
        Assert.Equal(MessageState.Sent, toServer.GetMessageState(first));

        Assert.True(sim.RunUntil(() => toServer.GetMessageState(second) == MessageState.Delivered, TimeSpan.FromSeconds(5)));
        Assert.Equal(
            [(first, MessageState.Sent), (second, MessageState.Sent), (second, MessageState.Received), (first, MessageState.Received), (first, MessageState.Delivered), (second, MessageState.Delivered)],
            events);
        Assert.True(toServer.GetStatistics().Retransmissions >= 1);

        Span<MessageState> states = stackalloc MessageState[2];
        toServer.GetMessageStates([first, second], states);
        Assert.Equal([MessageState.Delivered, MessageState.Delivered], states.ToArray());
    }

    [Fact]
    public void A_message_the_peer_never_acknowledges_disconnects_it_after_the_receive_timeout()
    {
        var options = new UdpHostOptions { ReceiveTimeout = TimeSpan.FromSeconds(2), HeartbeatTimeout = TimeSpan.FromSeconds(60) };
        (Simulation sim, _, _, UdpPeer toServer, _) = SessionTests.Connected(23, new NetworkConditions { Loss = 1 }, options);
        uint id = toServer.Send([1]).MessageId;
        Assert.True(sim.RunUntil(() => toServer.State == PeerState.Disconnected, TimeSpan.FromSeconds(5)));
        Assert.Equal(CloseReason.MessageTimeout, toServer.CloseReason);
        Assert.Equal(MessageState.TimedOut, toServer.GetMessageState(id));
    }

    [Fact]
    public void Unreliable_messages_arrive_at_most_once_and_are_final_when_sent()
    {
        (Simulation sim, UdpHost server, _, UdpPeer toServer, _) = SessionTests.Connected(24, new NetworkConditions { Duplication = 0.5, Loss = 0.2, Reorder = 0.2, Jitter = TimeSpan.FromMilliseconds(5) });
        var got = new List<int>();
        server.MessageReceived += (UdpPeer p, in UdpMessage m) => got.Add(BinaryPrimitives.ReadInt32LittleEndian(m.Data));
        var ids = new List<uint>();
        for (int i = 0; i < 500; i++)
        {
            ids.Add(toServer.Send(SessionTests.Payload(i, i % 7 == 0 ? 3000 : 40), DeliveryMode.Unreliable, 1).MessageId);
            sim.RunFor(TimeSpan.FromMilliseconds(2));
        }

        sim.RunFor(TimeSpan.FromSeconds(1));
        Assert.Equal(got.Count, got.Distinct().Count());
        Assert.InRange(got.Count, 250, 480);
        Assert.All(ids, id => Assert.Equal(MessageState.Sent, toServer.GetMessageState(id)));
        Assert.Equal(0, toServer.GetStatistics().PendingMessages);
    }

    [Fact]
    public void A_large_message_is_fragmented_and_reassembled_under_loss_and_the_receive_buffers_stay_within_the_window()
    {
        var conditions = new NetworkConditions { Loss = 0.05, Delay = TimeSpan.FromMilliseconds(20), Jitter = TimeSpan.FromMilliseconds(2) };
        (Simulation sim, UdpHost server, _, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(25, conditions);
        var random = new Random(25);
        var messages = Enumerable.Range(0, 6).Select(_ => { byte[] m = new byte[1024 * 1024]; random.NextBytes(m); return m; }).ToList();
        var got = new List<byte[]>();
        long maxBuffered = 0;
        server.MessageReceived += (UdpPeer p, in UdpMessage m) => got.Add(m.Data.ToArray());
        foreach (byte[] message in messages)
        {
            Assert.Equal(SendStatus.Queued, toServer.Send(message).Status);
        }

        Assert.True(sim.RunUntil(() =>
        {
            maxBuffered = Math.Max(maxBuffered, toClient.GetStatistics().BufferedReceiveBytes);
            return got.Count == messages.Count;
        }, TimeSpan.FromMinutes(5)), $"{got.Count} {toServer.DescribeTimers()} {toServer.GetStatistics()}");
        Assert.Equal(messages, got);
        Assert.True(maxBuffered <= server.Options.ReceiveWindowBytes, $"{maxBuffered}");
        Assert.Equal(0, toClient.GetStatistics().BufferedReceiveBytes);
    }
}
