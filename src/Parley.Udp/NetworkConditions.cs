namespace Parley.Udp;

/// <summary>
/// What a simulated network does to datagrams (rates are probabilities from 0 to 1). Set
/// <see cref="UdpHostOptions.SimulatedConditions"/> to apply them to a host's outgoing datagrams
/// for testing and benchmarking; the deterministic test simulator uses them too.
/// </summary>
public sealed record NetworkConditions
{
    /// <summary>Fraction of datagrams dropped.</summary>
    public double Loss { get; init; }

    /// <summary>Fraction of datagrams delivered twice.</summary>
    public double Duplication { get; init; }

    /// <summary>A reordered datagram is held back by an extra <see cref="Jitter"/>-sized delay.</summary>
    public double Reorder { get; init; }

    /// <summary>A corrupted datagram has one random bit flipped.</summary>
    public double Corruption { get; init; }

    /// <summary>One-way delay added to every datagram.</summary>
    public TimeSpan Delay { get; init; }

    /// <summary>Uniform extra delay from zero to this.</summary>
    public TimeSpan Jitter { get; init; }

    /// <summary>Datagrams larger than this are dropped (a path MTU); 0 means no limit.</summary>
    public int Mtu { get; init; }

    /// <summary>No impairment.</summary>
    public static NetworkConditions Perfect { get; } = new();
}
