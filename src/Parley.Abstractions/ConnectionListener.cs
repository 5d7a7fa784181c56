using System.Net;

namespace Parley;

/// <summary>
/// A source of incoming <see cref="Transport"/>s: TCP or Unix-domain sockets, shared memory,
/// an in-process listener, or your own. A <c>ParleyServer</c> accepts from any number of them
/// at once; it starts each, owns it from then on, and disposes it when it stops.
/// </summary>
/// <remarks>
/// <see cref="AcceptAsync"/> is called by one loop at a time. A listener only produces
/// transports: admission limits, TLS and everything above are the server's, applied the same
/// way to every listener.
/// </remarks>
public abstract class ConnectionListener : IDisposable
{
    /// <summary>Where it listens, for logs (<c>tcp://127.0.0.1:7000</c>, <c>unix:/run/parley.sock</c>, <c>ipc:chat</c>).</summary>
    public abstract string Address { get; }

    /// <summary>The bound address once started (with the real port when port 0 was asked for), when it has one; null otherwise.</summary>
    public virtual EndPoint? LocalEndPoint => null;

    /// <summary>Binds and starts listening. Called once, before the first <see cref="AcceptAsync"/>;
    /// throws when the address cannot be bound (in use, no permission).</summary>
    public abstract void Start();

    /// <summary>
    /// Waits for the next incoming connection's transport. Throws
    /// <see cref="OperationCanceledException"/> when <paramref name="cancellationToken"/> is
    /// cancelled and <see cref="ObjectDisposedException"/> once disposed: both end the server's
    /// accept loop quietly. Any other exception is logged and the loop accepts again after a
    /// short pause (a transient failure such as running out of descriptors).
    /// </summary>
    public abstract ValueTask<Transport> AcceptAsync(CancellationToken cancellationToken = default);

    /// <summary>Stops listening and releases the address. Connections already accepted stay open. Idempotent.</summary>
    public abstract void Dispose();
}
