namespace Parley.Udp;

/// <summary>What the simulated network does to datagrams. All rates are probabilities from 0 to 1.</summary>
internal sealed record NetworkConditions
{
    public double Loss { get; init; }

    public double Duplication { get; init; }

    /// <summary>A reordered datagram is held back by an extra <see cref="Jitter"/>-sized delay.</summary>
    public double Reorder { get; init; }

    /// <summary>A corrupted datagram has one random bit flipped.</summary>
    public double Corruption { get; init; }

    public TimeSpan Delay { get; init; }

    /// <summary>Uniform extra delay from zero to this.</summary>
    public TimeSpan Jitter { get; init; }

    /// <summary>Datagrams larger than this are dropped (a path MTU); 0 means no limit.</summary>
    public int Mtu { get; init; }

    public static NetworkConditions Perfect { get; } = new();
}
