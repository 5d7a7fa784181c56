using System.Net;

namespace Parley.Udp.Tests;

public class SimulatedNetworkTests
{
    private static readonly IPEndPoint A = new(IPAddress.Loopback, 1);
    private static readonly IPEndPoint B = new(IPAddress.Loopback, 2);

    private static (SimulatedNetwork Network, List<(TimeSpan At, byte[] Bytes)> Received) Run(int seed, NetworkConditions conditions, int count)
    {
        var network = new SimulatedNetwork(seed, conditions);
        var received = new List<(TimeSpan, byte[])>();
        network.Attach(B, (from, bytes) =>
        {
            Assert.Equal(A, from);
            received.Add((network.Now, bytes));
        });
        for (int i = 0; i < count; i++)
        {
            network.Send(A, B, BitConverter.GetBytes(i));
            network.AdvanceTo(network.Now + TimeSpan.FromMilliseconds(1));
        }

        network.AdvanceTo(network.Now + TimeSpan.FromSeconds(10));
        return (network, received);
    }

    [Fact]
    public void A_perfect_network_delivers_everything_once_in_order_after_the_delay()
    {
        (SimulatedNetwork network, List<(TimeSpan At, byte[] Bytes)> received) = Run(1, NetworkConditions.Perfect with { Delay = TimeSpan.FromMilliseconds(20) }, 100);
        Assert.Equal(Enumerable.Range(0, 100), received.Select(r => BitConverter.ToInt32(r.Bytes)));
        Assert.Equal(TimeSpan.FromMilliseconds(20), received[0].At);
        Assert.Equal(0, network.InFlight);
    }

    [Fact]
    public void Loss_duplication_corruption_and_reordering_happen_at_about_their_rates_and_are_counted()
    {
        var conditions = new NetworkConditions { Loss = 0.1, Duplication = 0.1, Corruption = 0.1, Reorder = 0.2, Delay = TimeSpan.FromMilliseconds(5), Jitter = TimeSpan.FromMilliseconds(5) };
        (SimulatedNetwork network, List<(TimeSpan At, byte[] Bytes)> received) = Run(7, conditions, 10_000);
        Assert.InRange(network.Lost, 800, 1200);
        Assert.InRange(network.Duplicated, 700, 1100);
        Assert.InRange(network.Corrupted, 800, 1300);
        Assert.Equal(network.Sent - network.Lost + network.Duplicated, received.Count);
        int[] order = [.. received.Where(r => r.Bytes.Length == 4).Select(r => BitConverter.ToInt32(r.Bytes))];
        Assert.Contains(order.Zip(order.Skip(1)), pair => pair.Second < pair.First); // some arrive out of order
    }

    [Fact]
    public void The_same_seed_gives_the_same_run()
    {
        var conditions = new NetworkConditions { Loss = 0.2, Reorder = 0.3, Jitter = TimeSpan.FromMilliseconds(3) };
        List<(TimeSpan At, byte[] Bytes)> first = Run(42, conditions, 500).Received;
        List<(TimeSpan At, byte[] Bytes)> second = Run(42, conditions, 500).Received;
        Assert.Equal(first.Select(r => (r.At, BitConverter.ToInt32(r.Bytes))), second.Select(r => (r.At, BitConverter.ToInt32(r.Bytes))));
    }
}
