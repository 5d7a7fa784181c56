using Parley.Internal;

namespace Parley;

/// <summary>
/// Connected pairs of <see cref="Connection"/>s over an in-process byte stream instead of a
/// socket: the same framing, send queues, backpressure, liveness and close semantics, with no
/// network. For tests of whole applications and for in-process peers.
/// </summary>
public static class InMemoryConnection
{
    /// <summary>
    /// Creates two started connections, each receiving what the other sends. Both are open and
    /// ready for <see cref="Connection.ReadMessagesAsync"/> or sending.
    /// </summary>
    /// <param name="first">Options of the first connection (framer, limits); defaults when null.</param>
    /// <param name="second">Options of the second connection; defaults when null. Both sides
    /// must use framers that agree on the wire format.</param>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public static (Connection First, Connection Second) CreatePair(ConnectionOptions? first = null, ConnectionOptions? second = null)
    {
        first ??= new ConnectionOptions();
        second ??= new ConnectionOptions();
        first.Validate();
        second.Validate();
        (InMemoryTransport a, InMemoryTransport b) = InMemoryTransport.CreatePair();
        var one = new Connection(a, first, LivenessMonitor.For(first.TimeProvider));
        var two = new Connection(b, second, LivenessMonitor.For(second.TimeProvider));
        one.TryStart();
        two.TryStart();
        return (one, two);
    }
}
