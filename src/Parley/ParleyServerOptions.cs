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

    /// <summary>
    /// Most connections open at once from one peer address (an IPv4 address, or an IPv6 /64):
    /// one more is accepted and closed at once with <see cref="CloseReason.AddressLimit"/>, so
    /// one host cannot take every slot of <see cref="MaxConnections"/>. Default 256 — room for
    /// a small office behind one NAT address. Peers without an IP address (shared memory) are
    /// not counted. Load tests from one machine raise it.
    /// </summary>
    public int MaxConnectionsPerAddress { get; set; } = 256;

    /// <summary>
    /// The message a refused connection gets before it is closed (over plain TCP; best effort,
    /// never waited for): given why (<see cref="CloseReason.ConnectionLimit"/> or
    /// <see cref="CloseReason.AddressLimit"/>), returns a payload, framed with the
    /// <see cref="ConnectionOptions.Framer"/>, or an empty one for none. Default null: the
    /// connection is closed without a word. The chat server sends an <c>error</c> event,
    /// <c>server_full</c>.
    /// </summary>
    public Func<CloseReason, ReadOnlyMemory<byte>>? RefusalMessage { get; set; }

    /// <summary>Pending connections the kernel queues before they are accepted. Default 512,
    /// enough for a paced ramp-up of thousands of clients.</summary>
    public int ListenBacklog { get; set; } = 512;

    /// <summary>
    /// Let several servers (processes) listen on the same port, the kernel spreading new
    /// connections among them (SO_REUSEPORT on Linux). Default <see langword="false"/>: a
    /// second server on a port in use fails to start with "address already in use", as it
    /// should — two servers that silently share a port split their clients between them.
    /// Restarting on a port whose old connections linger in TIME_WAIT works either way.
    /// </summary>
    public bool SharePort { get; set; }

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
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxConnectionsPerAddress, nameof(MaxConnectionsPerAddress));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ListenBacklog, nameof(ListenBacklog));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxGroups, nameof(MaxGroups));
        RequirePositive(ShutdownTimeout, nameof(ShutdownTimeout));
    }
}
