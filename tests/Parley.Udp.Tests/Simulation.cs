using System.Net;

namespace Parley.Udp.Tests;

/// <summary>
/// Hosts on a <see cref="SimulatedNetwork"/> sharing one <see cref="ManualClock"/>: an
/// event-driven loop jumps the clock to the next datagram arrival or host timer, so a run is
/// exactly repeatable for a seed and takes microseconds of real time per simulated second.
/// </summary>
internal sealed class Simulation
{
    private static readonly DateTimeOffset Epoch = new(2026, 11, 22, 0, 0, 0, TimeSpan.Zero);
    private readonly List<Node> _nodes = [];

    public Simulation(int seed, NetworkConditions? conditions = null)
    {
        Network = new SimulatedNetwork(seed, conditions ?? NetworkConditions.Perfect);
    }

    public ManualClock Clock { get; } = new(Epoch);

    public SimulatedNetwork Network { get; }

    public TimeSpan Now => Network.Now;

    private sealed class Node(UdpHost host, IPEndPoint address, Simulation simulation) : IDatagramTransport
    {
        public UdpHost Host { get; } = host;

        public IPEndPoint Address { get; set; } = address;

        public bool Down { get; set; }

        public bool EventsHeld { get; set; }

        public void Send(System.Net.SocketAddress to, ReadOnlySpan<byte> datagram)
        {
            if (!Down)
            {
                simulation.Network.Send(Address, (IPEndPoint)Address.Create(to), datagram);
            }
        }
    }

    public static IPEndPoint At(int port) => new(IPAddress.Loopback, port);

    public UdpHost AddHost(int port, UdpHostOptions? options = null) => AddHost(At(port), options);

    /// <summary>A host at any address (hosts on other IP addresses than 127.0.0.1 count as other sources).</summary>
    public UdpHost AddHost(IPEndPoint address, UdpHostOptions? options = null)
    {
        var host = new UdpHost(options ?? new UdpHostOptions(), Clock, address.Serialize());
        var node = new Node(host, address, this);
        _nodes.Add(node);
        Attach(node);
        return host;
    }

    /// <summary>The host's datagrams now leave from (and arrive at) another port: a NAT rebinding.</summary>
    public void Move(UdpHost host, int newPort)
    {
        Node node = _nodes.Single(n => n.Host == host);
        Network.Detach(node.Address);
        node.Address = At(newPort);
        Attach(node);
    }

    /// <summary>The host vanishes: it neither sends nor receives any more.</summary>
    public void Silence(UdpHost host)
    {
        Node node = _nodes.Single(n => n.Host == host);
        node.Down = true;
        Network.Detach(node.Address);
    }

    /// <summary>The host at <paramref name="address"/> vanishes.</summary>
    public void Silence(IPEndPoint address) => Silence(_nodes.Single(n => n.Address.Equals(address)).Host);

    /// <summary>
    /// The host's application stops taking events (a handler that blocks): they stay queued, while
    /// the host's protocol work goes on, until <see cref="ReleaseEvents"/>.
    /// </summary>
    public void HoldEvents(UdpHost host) => _nodes.Single(n => n.Host == host).EventsHeld = true;

    /// <summary>The host's application takes its events again (at the next step of the simulation).</summary>
    public void ReleaseEvents(UdpHost host) => _nodes.Single(n => n.Host == host).EventsHeld = false;

    /// <summary>Removes a host for good (disposing it first sends its Close packets).</summary>
    public void Remove(UdpHost host)
    {
        host.Dispose();
        PollAll();
        Node node = _nodes.Single(n => n.Host == host);
        Network.Detach(node.Address);
        _nodes.Remove(node);
    }

    /// <summary>Sends a raw datagram to a host, as if from <paramref name="from"/>.</summary>
    public void Inject(IPEndPoint from, UdpHost to, ReadOnlySpan<byte> datagram) =>
        Network.Send(from, _nodes.Single(n => n.Host == to).Address, datagram);

    public void RunFor(TimeSpan duration) => RunUntil(() => false, duration);

    /// <summary>Runs until <paramref name="condition"/> holds (true) or <paramref name="limit"/> of simulated time passes (false).</summary>
    public bool RunUntil(Func<bool> condition, TimeSpan limit)
    {
        TimeSpan end = Now + limit;
        int forced = 0;
        for (long steps = 0; steps < 50_000_000; steps++)
        {
            PollAll();
            if (condition())
            {
                return true;
            }

            if (Now >= end)
            {
                return false;
            }

            TimeSpan next = end;
            if (Network.TryPeekNextDue(out TimeSpan due) && due < next)
            {
                next = due;
            }

            foreach (Node node in _nodes)
            {
                lock (node.Host.Gate)
                {
                    long wake = node.Host.NextWakeMicros();
                    if (wake != long.MaxValue)
                    {
                        TimeSpan at = Now + TimeSpan.FromMicroseconds(wake - node.Host.NowMicros);
                        next = at < next ? at : next;
                    }
                }
            }

            // A timer due now was just polled; never stand still (but a timer that stays due is a bug).
            forced = next > Now ? 0 : forced + 1;
            if (forced > 10_000)
            {
                throw new InvalidOperationException("A host keeps asking to be woken in the past: " + string.Join("; ", _nodes.SelectMany(n => n.Host.GetPeers(PeerQuery.Known)).Select(p => p.DescribeTimers())));
            }

            next = next > Now ? next : Now + TimeSpan.FromMicroseconds(1);
            Clock.Advance(next - Now);
            Network.AdvanceTo(next);
        }

        throw new InvalidOperationException("The simulation did not settle.");
    }

    private void Attach(Node node) => Network.Attach(node.Address, (from, bytes) =>
    {
        if (node.Down)
        {
            return;
        }

        lock (node.Host.Gate)
        {
            node.Host.Receive(from.Serialize(), bytes);
            node.Host.DrainTo(node);
        }

        DispatchEvents(node);
    });

    // The events the host queued are raised here, outside its lock, as a host's own threads would.
    private static void DispatchEvents(Node node)
    {
        if (!node.EventsHeld)
        {
            node.Host.DispatchEvents();
        }
    }

    private void PollAll()
    {
        for (int round = 0; round < 1000; round++)
        {
            bool work = false;
            foreach (Node node in _nodes.ToArray())
            {
                lock (node.Host.Gate)
                {
                    node.Host.Poll();
                    node.Host.DrainTo(node);
                }

                DispatchEvents(node);
                lock (node.Host.Gate)
                {
                    work |= node.Host.HasWork;
                }
            }

            if (!work)
            {
                return;
            }
        }
    }
}
