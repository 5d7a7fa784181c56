using Parley.Internal;

namespace Parley;

/// <summary>
/// A source of connections other than a TCP socket for <see cref="ParleyServer"/> — set
/// <see cref="ParleyServerOptions.Listener"/>. Parley.Ipc's shared-memory listener is one. The
/// server owns it once started and disposes it when it stops.
/// </summary>
/// <remarks>Implemented inside Parley's own assemblies only: the transport contract is internal.</remarks>
public abstract class ConnectionListener : IDisposable
{
    private protected ConnectionListener()
    {
    }

    /// <summary>Where it listens, for logs (for example <c>ipc:chat</c>).</summary>
    public abstract string Address { get; }

    /// <summary>Starts listening; called once by <see cref="ParleyServer.Start()"/>.</summary>
    internal abstract void Start();

    /// <summary>The next connection's transport; throws <see cref="OperationCanceledException"/> or <see cref="ObjectDisposedException"/> when stopped.</summary>
    internal abstract Task<Transport> AcceptAsync(CancellationToken cancellationToken);

    /// <summary>Stops listening. Connections already accepted stay open.</summary>
    public abstract void Dispose();
}

/// <summary>
/// A way to reach a server other than a TCP socket for <see cref="ParleyClient"/> — set
/// <see cref="ParleyClientOptions.Dialer"/>. Parley.Ipc's shared-memory dialer is one.
/// </summary>
/// <remarks>Implemented inside Parley's own assemblies only: the transport contract is internal.</remarks>
public abstract class ConnectionDialer
{
    private protected ConnectionDialer()
    {
    }

    /// <summary>Where it connects, for logs (for example <c>ipc:chat</c>).</summary>
    public abstract string Address { get; }

    /// <summary>Opens one connection's transport.</summary>
    internal abstract Task<Transport> ConnectAsync(CancellationToken cancellationToken);
}
