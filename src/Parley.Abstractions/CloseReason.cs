namespace Parley;

/// <summary>
/// Why a connection closed, in the same words for every Parley transport (TCP, Unix sockets,
/// TLS, shared memory, in process). Recorded once, by whatever closed it first.
/// </summary>
public enum CloseReason
{
    /// <summary>The connection is still open.</summary>
    None,

    /// <summary>This side closed it gracefully (<c>Connection.CloseAsync</c>, or a handler returned).</summary>
    LocalClose,

    /// <summary>The peer closed its side on purpose (a FIN; over shared memory, a close).</summary>
    RemoteClose,

    /// <summary>This side aborted it without flushing (<c>Connection.Abort</c>).</summary>
    LocalAbort,

    /// <summary>The peer reset the connection, the network failed, or the peer's process died without closing.</summary>
    ConnectionReset,

    /// <summary>Nothing arrived from the peer within the idle timeout (UDP: the heartbeat timeout): it vanished or hung.</summary>
    IdleTimeout,

    /// <summary>The peer announced or sent a frame above the maximum message size.</summary>
    FrameTooLarge,

    /// <summary>The peer sent bytes that are not a valid frame, broke the transport's own protocol
    /// (a corrupt shared-memory ring; UDP: past its flow-control credit or sequence window), or
    /// broke the application protocol.</summary>
    ProtocolError,

    /// <summary>The peer did not read fast enough and its send queue passed its limit
    /// (<c>SlowConsumerPolicy.Disconnect</c>).</summary>
    SlowConsumer,

    /// <summary>The server was full (<c>ParleyServerOptions.MaxConnections</c>; UDP: <c>UdpHostOptions.MaxPeers</c>).</summary>
    ConnectionLimit,

    /// <summary>The server is shutting down (<c>ParleyServer.StopAsync</c>; UDP: a host was disposed).</summary>
    ServerShutdown,

    /// <summary>An application handler threw; see <c>Connection.CloseException</c>.</summary>
    ApplicationError,

    /// <summary>An unexpected transport error; see <c>Connection.CloseException</c>.</summary>
    TransportError,

    /// <summary>A message began arriving but was not complete within
    /// <c>ConnectionOptions.IncompleteMessageTimeout</c>: a peer trickling bytes (slow-loris) or a
    /// stalled one (UDP: a reliable message was not received within <c>ReceiveTimeout</c>).</summary>
    MessageTimeout,

    /// <summary>Refused at accept: the peer's address holds
    /// <c>ParleyServerOptions.MaxConnectionsPerAddress</c> connections already (UDP: <c>MaxPeersPerAddress</c> sessions).</summary>
    AddressLimit,

    /// <summary>A connection attempt did not complete: the handshake timed out, or the other side
    /// refused it without a more specific reason (UDP sessions; a TCP client's failed connect
    /// throws instead).</summary>
    ConnectFailed,
}
