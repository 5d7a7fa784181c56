namespace Parley.Udp.Tests;

/// <summary>
/// The sending side's packets on their own: acknowledgement, loss by evidence, the probe timeout,
/// Nacks and retransmission, with a recording sink in place of the session (times in microseconds).
/// </summary>
public class LossRecoveryTests
{
    private const int Size = 1000;

    private sealed class Sink : IRecoverySink
    {
        public List<uint> Received { get; } = [];

        public List<DeliveredRun> DeliveredLost { get; } = [];

        public List<(int Size, bool Acked)> Probes { get; } = [];

        public void OnMessageReceived(OutgoingMessage message, long now) => Received.Add(message.Id);

        public void OnDeliveredLost(DeliveredRun run) => DeliveredLost.Add(run);

        public void OnProbeAcked(int size) => Probes.Add((size, true));

        public void OnProbeLost(int size) => Probes.Add((size, false));
    }

    private sealed class Fixture
    {
        public Sink Sink { get; } = new();

        public CongestionController Congestion { get; } = new(1200);

        public RttEstimator Rtt { get; } = new(TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(20), TimeSpan.FromSeconds(10));

        public LossRecovery Recovery { get; }

        public BufferStore Buffers { get; } = new(1 << 20);

        public Fixture() => Recovery = new LossRecovery(Rtt, Congestion, TimeSpan.FromMilliseconds(1), Sink);

        /// <summary>A reliable one-fragment message with id <paramref name="id"/>, sent in the next packet at <paramref name="now"/>; returns the packet's number.</summary>
        public (long Number, OutgoingMessage Message) SendMessage(uint id, long now)
        {
            var message = new OutgoingMessage { Id = id, Mode = DeliveryMode.ReliableOrdered, State = MessageState.Sent, Length = 10, Buffer = Buffers.Rent(10) };
            message.Fragment(1000, 1000);
            long itemStart = Recovery.Log.ItemTail;
            Recovery.Log.AddItem(new SentItem { Message = message, Version = message.Version, Fragment = 0 });
            long number = Recovery.TakePacketNumber();
            Recovery.OnSent(number, now, Size, itemStart, elicits: true);
            return (number, message);
        }

        public long SendConfirmation(DeliveredRun run, long now)
        {
            long itemStart = Recovery.Log.ItemTail;
            Recovery.Log.AddItem(new SentItem { Delivered = run });
            long number = Recovery.TakePacketNumber();
            Recovery.OnSent(number, now, Size, itemStart, elicits: true);
            return number;
        }

        public void Ack(long now, ushort delay, params (long First, long Last)[] ranges)
        {
            byte[] buffer = new byte[600];
            var writer = new FrameWriter(buffer);
            Assert.True(writer.TryWriteAck([.. ranges.Select(r => new AckRange((uint)r.First, (uint)r.Last))], delay));
            var reader = new FrameReader(buffer.AsSpan(0, writer.Written));
            Assert.True(reader.TryReadNext());
            Recovery.OnAck(ref reader, now);
        }
    }

    [Fact]
    public void An_acknowledged_packet_reports_its_message_received_samples_the_round_trip_and_leaves_flight()
    {
        var f = new Fixture();
        (long number, _) = f.SendMessage(7, now: 1_000);
        Assert.Equal(Size, f.Congestion.BytesInFlight);
        f.Ack(now: 31_000, delay: 10, (number, number)); // 30 ms later, 1 ms of it the peer's ack delay
        Assert.Equal([7u], f.Sink.Received);
        Assert.Equal(TimeSpan.FromMilliseconds(29), f.Rtt.SmoothedRtt);
        Assert.Equal(0, f.Congestion.BytesInFlight);
        Assert.Equal(0, f.Recovery.LoggedPackets);
        Assert.Equal(long.MaxValue, f.Recovery.NextDeadline());
    }

    [Fact]
    public void A_packet_three_behind_the_largest_acknowledged_is_lost_and_its_fragment_goes_again()
    {
        var f = new Fixture();
        (long lost, OutgoingMessage message) = f.SendMessage(1, 0);
        long a = f.SendMessage(2, 10).Number;
        f.SendMessage(3, 20);
        long c = f.SendMessage(4, 30).Number;
        f.Ack(1_000, 0, (a, c));
        Assert.Equal(1, f.Recovery.PacketsLost);
        Assert.True(f.Recovery.HasRetransmissions);

        byte[] buffer = new byte[1200];
        var writer = new FrameWriter(buffer);
        Assert.True(f.Recovery.WriteRetransmissions(ref writer));
        var reader = new FrameReader(buffer.AsSpan(0, writer.Written));
        Assert.True(reader.TryReadNext());
        Assert.Equal(message.Id, reader.Message.MessageId);
        Assert.Equal(1, f.Recovery.Retransmissions);
        Assert.Equal(1, message.Retransmits);
        Assert.False(f.Recovery.HasRetransmissions);
        Assert.True(f.Congestion.LossRate > 0, "congestion control heard of the loss");
        Assert.Equal(1, lost);
    }

    [Fact]
    public void A_packet_less_than_three_behind_is_lost_only_when_the_loss_timer_runs_out()
    {
        var f = new Fixture();
        long first = f.SendMessage(1, 0).Number;
        long second = f.SendMessage(2, 0).Number;
        f.Ack(20_000, 0, (second, second));
        Assert.Equal(0, f.Recovery.PacketsLost);
        long lossAt = f.Recovery.NextDeadline(); // 9/8 of the 20 ms round trip after it was sent
        Assert.Equal(22_500, lossAt);
        f.Recovery.OnTimer(lossAt - 1);
        Assert.Equal(0, f.Recovery.PacketsLost);
        f.Recovery.OnTimer(lossAt);
        Assert.Equal(1, f.Recovery.PacketsLost);
        Assert.Equal(first + 1, second);
    }

    [Fact]
    public void The_probe_timeout_resends_the_oldest_data_doubles_the_timeout_and_lets_one_packet_past_the_window()
    {
        var f = new Fixture();
        f.SendMessage(1, 0);
        long rto = f.Recovery.RtoMicros; // 200 ms + 1 ms of the peer's ack delay
        Assert.Equal(201_000, rto);
        Assert.Equal(rto, f.Recovery.NextDeadline());
        Assert.False(f.Recovery.OnTimer(rto)); // something to resend: no heartbeat needed
        Assert.Equal(1, f.Recovery.Timeouts);
        Assert.Equal(0, f.Recovery.PacketsLost); // a timeout declares nothing lost
        Assert.True(f.Recovery.HasRetransmissions);
        Assert.True(f.Recovery.ProbeTimeoutSend);
        Assert.Equal(TimeSpan.FromMilliseconds(400), f.Rtt.Rto);
        Assert.Equal(rto + 401_000, f.Recovery.NextDeadline()); // from the timeout, backed off
    }

    [Fact]
    public void A_probe_timeout_with_nothing_live_to_resend_asks_for_a_heartbeat()
    {
        var f = new Fixture();
        (_, OutgoingMessage message) = f.SendMessage(1, 0);
        message.State = MessageState.Received; // settled by other means (a delivered confirmation)
        Assert.True(f.Recovery.OnTimer(f.Recovery.RtoMicros));
    }

    [Fact]
    public void Lost_confirmations_go_back_to_the_session()
    {
        var f = new Fixture();
        f.SendConfirmation(new DeliveredRun(5, 3), 0);
        long later = 0;
        for (uint i = 0; i < 3; i++)
        {
            later = f.SendMessage(10 + i, 10).Number;
        }

        f.Ack(1_000, 0, (later - 2, later));
        Assert.Equal([new DeliveredRun(5, 3)], f.Sink.DeliveredLost);
    }

    [Fact]
    public void A_nack_declares_outstanding_packets_lost_and_looks_at_no_more_than_its_budget()
    {
        var f = new Fixture();
        long first = f.SendMessage(1, 0).Number;
        f.SendMessage(2, 0);
        f.SendMessage(3, 0);
        int work = 2;
        f.Recovery.OnNack((uint)first, 3, ref work);
        Assert.Equal(2, f.Recovery.PacketsLost);
        Assert.Equal(2, f.Recovery.NackLookups);
        Assert.Equal(0, work);
        f.Recovery.OnNack((uint)first, 3, ref work);
        Assert.Equal(2, f.Recovery.PacketsLost); // no budget left for this packet's Nacks
    }

    [Fact]
    public void A_probe_acknowledged_or_lost_is_reported_and_says_nothing_about_congestion()
    {
        var f = new Fixture();
        long probe = f.Recovery.TakePacketNumber();
        f.Recovery.OnProbeSent(probe, 0, 1400);
        long lost = f.Recovery.TakePacketNumber();
        f.Recovery.OnProbeSent(lost, 0, 1500);
        for (int i = 0; i < 3; i++)
        {
            f.SendMessage((uint)i + 1, 0);
        }

        long window = f.Congestion.Window;
        f.Ack(10_000, 0, (lost + 1, lost + 3), (probe, probe)); // newest range first, as on the wire
        Assert.Contains((1400, true), f.Sink.Probes);
        Assert.Contains((1500, false), f.Sink.Probes);
        Assert.Equal(0, f.Recovery.PacketsLost);
        Assert.True(f.Congestion.Window >= window);
    }
}
