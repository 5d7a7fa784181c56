namespace Parley.Udp.Tests;

/// <summary>The path-MTU search on its own: the ceiling first, then halving, a size lost twice becomes the ceiling.</summary>
public class MtuProberTests
{
    [Fact]
    public void The_ceiling_is_tried_first_and_taken_when_it_gets_through()
    {
        var prober = new MtuProber();
        prober.Start(ceiling: 1472, packetSize: 1200, enabled: true, now: 5);
        Assert.Equal(5, prober.NextAt);
        Assert.True(prober.TryStart(5, 1200, out int size));
        Assert.Equal(1472, size);
        Assert.False(prober.TryStart(6, 1200, out _)); // one in flight at a time
        prober.OnAcked(now: 10);
        Assert.False(prober.TryStart(10, 1472, out _)); // nothing left to search
        Assert.Equal(long.MaxValue, prober.NextAt);
    }

    [Fact]
    public void A_size_lost_twice_becomes_the_ceiling_and_the_search_halves_below_it()
    {
        var prober = new MtuProber();
        prober.Start(1500, 1200, true, 0);
        var tried = new List<int>();
        int packetSize = 1200;
        int pathMtu = 1400;
        for (long now = 0; now < 100 && prober.TryStart(now, packetSize, out int size); now++)
        {
            tried.Add(size);
            if (size <= pathMtu)
            {
                packetSize = size;
                prober.OnAcked(now);
            }
            else
            {
                prober.OnLost(size, now);
            }
        }

        Assert.Equal([1500, 1500, 1350, 1425, 1425, 1387, 1406, 1406], tried.Take(8)); // each lost size is tried twice
        Assert.InRange(packetSize, pathMtu - 16, pathMtu);
    }

    [Fact]
    public void Nothing_is_probed_when_probing_is_off_or_the_ceiling_is_the_packet_size()
    {
        var off = new MtuProber();
        off.Start(1500, 1200, enabled: false, now: 0);
        Assert.False(off.TryStart(0, 1200, out _));
        var flat = new MtuProber();
        flat.Start(1200, 1200, enabled: true, now: 0);
        Assert.False(flat.TryStart(0, 1200, out _));
    }
}
