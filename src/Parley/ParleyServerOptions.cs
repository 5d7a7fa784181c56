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

    /// <summary>TLS for the connections accepted on <see cref="EndPoint"/>; null (the default)
    /// for plain TCP. Listeners added with <see cref="Listen"/> take their own TLS options.</summary>
    public TlsServerOptions? Tls { get; set; }

    /// <summary>
    /// The transports the server accepts from, each with its own TLS options (null for none):
    /// TCP and Unix-domain sockets (<see cref="SocketConnectionListener"/>), shared memory
    /// (Parley.Ipc), in process (<see cref="InMemoryConnectionListener"/>) or your own
    /// <see cref="ConnectionListener"/>. Limits, framing and events are the same for all. Empty
    /// (the default): one TCP listener on <see cref="EndPoint"/> with <see cref="Tls"/>,
    /// <see cref="ListenBacklog"/> and <see cref="SharePort"/>; once any is added, those four
    /// are not used. The server starts every listener and disposes it when it stops.
    /// </summary>
    public IList<ListenerBinding> Listeners { get; } = new List<ListenerBinding>();

    /// <summary>The one extra listener, before a server could have several: reads the first of
    /// <see cref="Listeners"/>; setting it replaces them all with this one (null: none).</summary>
    [Obsolete("Use Listen(listener) (or Listeners): a server accepts from several listeners, each with its own TLS options.")]
    public ConnectionListener? Listener
    {
        get => Listeners.Count > 0 ? Listeners[0].Listener : null;
        set
        {
            Listeners.Clear();
            if (value is not null)
            {
                Listeners.Add(new ListenerBinding(value));
            }
        }
    }

    /// <summary>Adds a listener to <see cref="Listeners"/>, with TLS over its connections when
    /// <paramref name="tls"/> is given. Returns these options, for chaining.</summary>
    public ParleyServerOptions Listen(ConnectionListener listener, TlsServerOptions? tls = null)
    {
        ArgumentNullException.ThrowIfNull(listener);
        Listeners.Add(new ListenerBinding(listener, tls));
        return this;
    }

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Tls?.Validate();
        if (Listeners.Count > 0 && Tls is not null)
        {
            throw new ArgumentException("Tls applies to EndPoint only, which is not used once Listeners are given: pass TLS options with each listener (Listen(listener, tls)).", nameof(Tls));
        }

        foreach (ListenerBinding binding in Listeners)
        {
            ArgumentNullException.ThrowIfNull(binding?.Listener, nameof(Listeners));
            binding.Tls?.Validate();
        }

        if (Listeners.Select(binding => binding.Listener).Distinct().Count() != Listeners.Count)
        {
            throw new ArgumentException("A listener is given twice.", nameof(Listeners));
        }

        ArgumentNullException.ThrowIfNull(EndPoint);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxConnections, nameof(MaxConnections));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxConnectionsPerAddress, nameof(MaxConnectionsPerAddress));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ListenBacklog, nameof(ListenBacklog));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxGroups, nameof(MaxGroups));
        RequirePositive(ShutdownTimeout, nameof(ShutdownTimeout));
    }
}
