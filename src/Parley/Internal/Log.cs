using System.Net;
using Microsoft.Extensions.Logging;

namespace Parley.Internal;

/// <summary>Source-generated log messages. Event ids are stable: 1xx connection, 2xx server, 3xx client.</summary>
internal static partial class Log
{
    [LoggerMessage(100, LogLevel.Debug, "Connection {ConnectionId} from {RemoteEndPoint} opened")]
    public static partial void ConnectionOpened(ILogger logger, long connectionId, EndPoint? remoteEndPoint);

    [LoggerMessage(101, LogLevel.Debug, "Connection {ConnectionId} from {RemoteEndPoint} closed: {Reason}")]
    public static partial void ConnectionClosed(ILogger logger, long connectionId, EndPoint? remoteEndPoint, CloseReason reason);

    [LoggerMessage(102, LogLevel.Warning, "Connection {ConnectionId} from {RemoteEndPoint}: protocol violation {Reason} ({Detail}); closing it")]
    public static partial void ProtocolViolation(ILogger logger, long connectionId, EndPoint? remoteEndPoint, CloseReason reason, string detail);

    [LoggerMessage(103, LogLevel.Warning, "Connection {ConnectionId} from {RemoteEndPoint} is a slow consumer: send queue over {Limit} bytes, policy {Policy}")]
    public static partial void SlowConsumer(ILogger logger, long connectionId, EndPoint? remoteEndPoint, long limit, SlowConsumerPolicy policy);

    [LoggerMessage(104, LogLevel.Information, "Connection {ConnectionId} from {RemoteEndPoint}: nothing received for {IdleTimeout}; closing it")]
    public static partial void IdleTimeout(ILogger logger, long connectionId, EndPoint? remoteEndPoint, TimeSpan idleTimeout);

    [LoggerMessage(110, LogLevel.Information, "Connection {ConnectionId} from {RemoteEndPoint}: a message begun {Timeout} ago is still incomplete ({Buffered} bytes); closing it")]
    public static partial void MessageTimeout(ILogger logger, long connectionId, EndPoint? remoteEndPoint, TimeSpan timeout, long buffered);

    [LoggerMessage(105, LogLevel.Error, "Connection {ConnectionId} from {RemoteEndPoint}: the application handler threw; closing it")]
    public static partial void HandlerFailed(ILogger logger, long connectionId, EndPoint? remoteEndPoint, Exception exception);

    [LoggerMessage(106, LogLevel.Error, "Connection {ConnectionId} from {RemoteEndPoint}: unexpected transport error")]
    public static partial void TransportError(ILogger logger, long connectionId, EndPoint? remoteEndPoint, Exception exception);

    [LoggerMessage(107, LogLevel.Debug, "Connection {ConnectionId} from {RemoteEndPoint}: connection reset ({Error})")]
    public static partial void ConnectionReset(ILogger logger, long connectionId, EndPoint? remoteEndPoint, string error);

    [LoggerMessage(109, LogLevel.Warning, "Connection {ConnectionId} from {RemoteEndPoint}: a message could not be decoded ({Reason}); closing")]
    public static partial void UndecodableMessage(ILogger logger, long connectionId, System.Net.EndPoint? remoteEndPoint, string reason);

    [LoggerMessage(108, LogLevel.Warning, "Connection {ConnectionId} from {RemoteEndPoint}: queued sends not flushed within {CloseTimeout}; aborting")]
    public static partial void CloseTimedOut(ILogger logger, long connectionId, EndPoint? remoteEndPoint, TimeSpan closeTimeout);

    [LoggerMessage(209, LogLevel.Information, "Listening on {Address}")]
    public static partial void ListeningOn(ILogger logger, string address);

    [LoggerMessage(201, LogLevel.Warning, "Accept failed: {Error}")]
    public static partial void AcceptFailed(ILogger logger, string error);


    [LoggerMessage(111, LogLevel.Warning, "Connection from {RemoteEndPoint} refused: its address holds {Limit} connections already (MaxConnectionsPerAddress); {Suppressed} refusals not logged before this one")]
    public static partial void AddressLimitReached(ILogger logger, EndPoint? remoteEndPoint, int limit, long suppressed);

    [LoggerMessage(202, LogLevel.Warning, "Connection from {RemoteEndPoint} refused: {MaxConnections} connections are open (MaxConnections); {Suppressed} refusals not logged before this one")]
    public static partial void ConnectionLimitReached(ILogger logger, EndPoint? remoteEndPoint, int maxConnections, long suppressed);

    [LoggerMessage(203, LogLevel.Information, "Stopping: {Count} connections to close")]
    public static partial void Stopping(ILogger logger, int count);

    [LoggerMessage(204, LogLevel.Warning, "Shutdown deadline {Timeout} passed; aborting {Count} connections")]
    public static partial void ShutdownTimedOut(ILogger logger, TimeSpan timeout, int count);

    [LoggerMessage(212, LogLevel.Information, "Stopping: waiting for {Count} TLS handshakes in progress")]
    public static partial void WaitingForHandshakes(ILogger logger, int count);

    [LoggerMessage(213, LogLevel.Information, "TLS handshake with {RemoteEndPoint} completed after the server began stopping; closed")]
    public static partial void TlsHandshakeEndedAfterStop(ILogger logger, EndPoint? remoteEndPoint);

    [LoggerMessage(214, LogLevel.Warning, "Shutdown deadline {Timeout} passed with {Count} TLS handshakes still in a certificate callback; they are closed when they return")]
    public static partial void HandshakesOutlivedShutdown(ILogger logger, TimeSpan timeout, int count);

    [LoggerMessage(205, LogLevel.Error, "An event handler threw")]
    public static partial void EventHandlerFailed(ILogger logger, Exception exception);

    [LoggerMessage(300, LogLevel.Information, "Reconnecting to {EndPoint} in {Delay} (attempt {Attempt})")]
    public static partial void Reconnecting(ILogger logger, string endPoint, TimeSpan delay, int attempt);

    [LoggerMessage(301, LogLevel.Warning, "Connecting to {EndPoint} failed: {Error}")]
    public static partial void ConnectFailed(ILogger logger, string endPoint, string error);

    [LoggerMessage(302, LogLevel.Warning, "Gave up reconnecting to {EndPoint} after {Attempts} attempts")]
    public static partial void ReconnectGaveUp(ILogger logger, string endPoint, int attempts);

    [LoggerMessage(206, LogLevel.Warning, "TLS handshake with {RemoteEndPoint} failed: {Reason}")]
    public static partial void TlsHandshakeFailed(ILogger logger, System.Net.EndPoint? remoteEndPoint, string reason);
}
