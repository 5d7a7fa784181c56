using System.Net;

namespace Parley;

/// <summary>Settings of a <see cref="ParleyServer"/>: where it listens and its limits.</summary>
public sealed class ParleyServerOptions : ConnectionOptions
{
    /// <summary>Where to listen. Port 0 picks a free port (read it from
    /// <see cref="ParleyServer.LocalEndPoint"/>). <see cref="IPAddress.IPv6Any"/> accepts IPv4
    /// too (dual mode). Default 127.0.0.1:0, reachable only from this machine.</summary>
    public IPEndPoint EndPoint { get; set; } = new(IPAddress.Loopback, 0);

    /// <summary>Most connections open at once; one more is accepted and closed at once with
    /// <see cref="CloseReason.ConnectionLimit"/>. Default 10 000.</summary>
    public int MaxConnections { get; set; } = 10_000;

    /// <summary>Pending connections the kernel queues before they are accepted. Default 512,
    /// enough for a paced ramp-up of thousands of clients.</summary>
    public int ListenBacklog { get; set; } = 512;

    /// <summary>Most named groups at once (<see cref="ParleyServer.GetOrCreateGroup"/>). Default 100 000.</summary>
    public int MaxGroups { get; set; } = 100_000;

    /// <summary>How long <see cref="ParleyServer.StopAsync"/> waits for every connection to
    /// flush and close before aborting what is left, and before that for the TLS handshakes in
    /// progress to end. Default 10 s.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>TLS for every accepted connection; null (the default) for plain TCP.</summary>
    public TlsServerOptions? Tls { get; set; }

    /// <summary>
    /// Another transport to accept connections from (Parley.Ipc's shared memory), used instead
    /// of binding <see cref="EndPoint"/>. The server starts it and disposes it when it stops.
    /// Default null: TCP.
    /// </summary>
    public ConnectionListener? Listener { get; set; }

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Tls?.Validate();
        if (Listener is not null && Tls is not null)
        {
            throw new ArgumentException("TLS runs over TCP only; it cannot be combined with a Listener.", nameof(Tls));
        }
        ArgumentNullException.ThrowIfNull(EndPoint);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxConnections, nameof(MaxConnections));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ListenBacklog, nameof(ListenBacklog));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxGroups, nameof(MaxGroups));
        RequirePositive(ShutdownTimeout, nameof(ShutdownTimeout));
    }
}
