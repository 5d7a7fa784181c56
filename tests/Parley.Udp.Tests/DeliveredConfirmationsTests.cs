namespace Parley.Udp.Tests;

/// <summary>The receiving side's delivered confirmations: runs of consumed ids, written once, sent again when lost.</summary>
public class DeliveredConfirmationsTests
{
    private static (List<DeliveredRun> Runs, bool Wrote) Write(DeliveredConfirmations confirmations, SentPacketLog log, int room = 1200)
    {
        byte[] buffer = new byte[room];
        var writer = new FrameWriter(buffer);
        bool wrote = confirmations.Write(ref writer, log);
        var runs = new List<DeliveredRun>();
        var reader = new FrameReader(buffer.AsSpan(0, writer.Written));
        while (reader.TryReadNext())
        {
            Assert.Equal(FrameType.Delivered, reader.Type);
            for (int i = 0; i < reader.DeliveredCount; i++)
            {
                runs.Add(reader.DeliveredAt(i));
            }
        }

        return (runs, wrote);
    }

    [Fact]
    public void Consecutive_ids_make_one_run_and_a_break_starts_another()
    {
        var confirmations = new DeliveredConfirmations();
        foreach (uint id in new uint[] { 5, 6, 7, 9, 10, 3 })
        {
            confirmations.Confirm(id);
        }

        var log = new SentPacketLog();
        (List<DeliveredRun> runs, bool wrote) = Write(confirmations, log);
        Assert.True(wrote);
        Assert.Equal([new DeliveredRun(5, 3), new DeliveredRun(9, 2), new DeliveredRun(3, 1)], runs);
        Assert.Equal(3, log.ItemTail); // each run logged as an item of the packet
        Assert.Equal(new DeliveredRun(9, 2), log.Item(1).Delivered);
        Assert.Equal(0, confirmations.Waiting);
        Assert.False(Write(confirmations, log).Wrote); // written once
    }

    [Fact]
    public void New_confirmations_wait_for_a_packet_but_lost_ones_make_one_due()
    {
        var confirmations = new DeliveredConfirmations();
        confirmations.Confirm(1);
        Assert.False(confirmations.ResendDue);
        confirmations.OnLost(new DeliveredRun(40, 2));
        Assert.True(confirmations.ResendDue);
        (List<DeliveredRun> runs, _) = Write(confirmations, new SentPacketLog());
        Assert.Equal([new DeliveredRun(40, 2), new DeliveredRun(1, 1)], runs);
        Assert.False(confirmations.ResendDue);
    }

    [Fact]
    public void What_does_not_fit_stays_for_the_next_packet()
    {
        var confirmations = new DeliveredConfirmations();
        for (uint i = 0; i < 10; i++)
        {
            confirmations.OnLost(new DeliveredRun(i * 10, 1));
        }

        (List<DeliveredRun> runs, _) = Write(confirmations, new SentPacketLog(), room: 2 + (4 * DeliveredRun.EncodedSize));
        Assert.Equal(4, runs.Count);
        Assert.True(confirmations.ResendDue);
        Assert.Equal(6, confirmations.Waiting);
    }

    [Fact]
    public void A_run_stops_growing_at_the_most_one_entry_can_say()
    {
        var confirmations = new DeliveredConfirmations();
        for (uint i = 0; i <= DeliveredRun.MaxCount; i++)
        {
            confirmations.Confirm(i);
        }

        (List<DeliveredRun> runs, _) = Write(confirmations, new SentPacketLog());
        Assert.Equal([new DeliveredRun(0, DeliveredRun.MaxCount), new DeliveredRun(DeliveredRun.MaxCount, 1)], runs);
    }
}
