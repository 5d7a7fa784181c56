namespace Parley.Udp;

/// <summary>Which peers <see cref="UdpHost.GetPeers"/> lists.</summary>
public enum PeerQuery
{
    /// <summary>Connected and heard from within <see cref="UdpHostOptions.StartHeartbeatTimeout"/>.</summary>
    Active,

    /// <summary>Every connected session.</summary>
    Connected,

    /// <summary>Every session in any state, plus pinned peers between sessions.</summary>
    Known,
}
