namespace Parley;

/// <summary>
/// Opens outgoing <see cref="Transport"/>s to one server: over TCP or a Unix-domain socket,
/// shared memory, in process, or your own. A <c>ParleyClient</c> dials once per connection
/// (again for each reconnect).
/// </summary>
/// <remarks>Thread-safe: reconnects and separate clients may dial concurrently.</remarks>
public abstract class ConnectionDialer
{
    /// <summary>Where it connects, for logs (<c>tcp://example.org:7000</c>, <c>ipc:chat</c>).</summary>
    public abstract string Address { get; }

    /// <summary>The server's host name when the dialer has one, which TLS then verifies the
    /// server's certificate against unless the TLS options name another; null otherwise.</summary>
    public virtual string? Host => null;

    /// <summary>
    /// Opens one connection's transport. Must honour <paramref name="cancellationToken"/>: it
    /// carries the client's connect timeout, and a dialer that ignores it can hold a client
    /// forever. Throws <see cref="OperationCanceledException"/> when it is cancelled (the client
    /// turns its own deadline into a <see cref="TimeoutException"/>), and whatever describes a
    /// failure to connect otherwise (a <see cref="System.Net.Sockets.SocketException"/> for a
    /// refused or unreachable server), having released anything it opened.
    /// </summary>
    public abstract ValueTask<Transport> ConnectAsync(CancellationToken cancellationToken = default);
}
