using System.Net;

namespace Parley.Udp;

/// <summary>
/// An in-process datagram network on a virtual clock: datagrams sent between endpoints are lost,
/// duplicated, corrupted, delayed and reordered as <see cref="NetworkConditions"/> says, from a
/// seeded random source, so a test run is exactly repeatable. Nothing happens until the test
/// advances the clock with <see cref="AdvanceTo"/>. Not thread-safe (tests drive it from one thread).
/// </summary>
internal sealed class SimulatedNetwork(int seed, NetworkConditions conditions)
{
    private readonly Random _random = new(seed);
    private readonly PriorityQueue<Datagram, (TimeSpan At, long Order)> _inFlight = new();
    private readonly Dictionary<IPEndPoint, Action<IPEndPoint, byte[]>> _receivers = [];
    private long _order;

    /// <summary>Virtual time since the network was created.</summary>
    public TimeSpan Now { get; private set; }

    public NetworkConditions Conditions { get; set; } = conditions;

    public long Sent { get; private set; }

    public long Lost { get; private set; }

    public long Duplicated { get; private set; }

    public long Corrupted { get; private set; }

    public long Delivered { get; private set; }

    private sealed record Datagram(IPEndPoint From, IPEndPoint To, byte[] Bytes);

    /// <summary>Attaches a receiver at <paramref name="address"/>: it gets (sender, bytes) for each datagram delivered there.</summary>
    public void Attach(IPEndPoint address, Action<IPEndPoint, byte[]> receive) => _receivers[address] = receive;

    public void Detach(IPEndPoint address) => _receivers.Remove(address);

    /// <summary>
    /// Sees every datagram sent (from, to, a copy of the bytes) before the network does anything
    /// to it; returning true swallows it: an observer, or an attacker on the path.
    /// </summary>
    public Func<IPEndPoint, IPEndPoint, byte[], bool>? Intercept { get; set; }

    /// <summary>Sends a copy of <paramref name="datagram"/>; it arrives (or not) when the clock passes its delivery time.</summary>
    public void Send(IPEndPoint from, IPEndPoint to, ReadOnlySpan<byte> datagram)
    {
        Sent++;
        if (Intercept is { } intercept && intercept(from, to, datagram.ToArray()))
        {
            return;
        }

        if (_random.NextDouble() < Conditions.Loss || (Conditions.Mtu > 0 && datagram.Length > Conditions.Mtu))
        {
            Lost++;
            return;
        }

        int copies = _random.NextDouble() < Conditions.Duplication ? 2 : 1;
        Duplicated += copies - 1;
        for (int i = 0; i < copies; i++)
        {
            byte[] bytes = datagram.ToArray();
            if (bytes.Length > 0 && _random.NextDouble() < Conditions.Corruption)
            {
                Corrupted++;
                int bit = _random.Next(bytes.Length * 8);
                bytes[bit / 8] ^= (byte)(1 << (bit % 8));
            }

            TimeSpan delay = Conditions.Delay + (Conditions.Jitter * _random.NextDouble());
            if (_random.NextDouble() < Conditions.Reorder)
            {
                delay += Conditions.Jitter + TimeSpan.FromMilliseconds(1);
            }

            _inFlight.Enqueue(new Datagram(from, to, bytes), (Now + delay, _order++));
        }
    }

    /// <summary>Moves the clock to <paramref name="time"/>, delivering every datagram due by then, in due order.</summary>
    public void AdvanceTo(TimeSpan time)
    {
        while (_inFlight.TryPeek(out Datagram? datagram, out (TimeSpan At, long Order) due) && due.At <= time)
        {
            _inFlight.Dequeue();
            Now = due.At;
            if (_receivers.TryGetValue(datagram.To, out Action<IPEndPoint, byte[]>? receive))
            {
                Delivered++;
                receive(datagram.From, datagram.Bytes);
            }
        }

        Now = time;
    }

    /// <summary>When the next datagram arrives, if any is on its way.</summary>
    public bool TryPeekNextDue(out TimeSpan due)
    {
        bool any = _inFlight.TryPeek(out _, out (TimeSpan At, long Order) next);
        due = next.At;
        return any;
    }

    /// <summary>Datagrams still on their way.</summary>
    public int InFlight => _inFlight.Count;
}
