using System.Net;
using Microsoft.Extensions.Logging;

namespace Parley.Udp;

/// <summary>Source-generated log messages. Event ids are stable: 7xx reliable UDP.</summary>
internal static partial class Log
{
    [LoggerMessage(700, LogLevel.Information, "UDP host listening on {LocalEndPoint}")]
    public static partial void Listening(ILogger logger, EndPoint localEndPoint);

    [LoggerMessage(701, LogLevel.Debug, "Peer {RemoteEndPoint} #{SessionId:x8} connected")]
    public static partial void PeerConnected(ILogger logger, EndPoint remoteEndPoint, uint sessionId);

    [LoggerMessage(702, LogLevel.Debug, "Peer {RemoteEndPoint} #{SessionId:x8} disconnected: {Reason}")]
    public static partial void PeerDisconnected(ILogger logger, EndPoint remoteEndPoint, uint sessionId, CloseReason reason);

    [LoggerMessage(703, LogLevel.Information, "Peer #{SessionId:x8} moved from {OldEndPoint} to {NewEndPoint}")]
    public static partial void PeerMoved(ILogger logger, uint sessionId, EndPoint oldEndPoint, EndPoint newEndPoint);

    [LoggerMessage(704, LogLevel.Error, "An application handler of a UDP peer threw; the peer's next event is raised and the host goes on")]
    public static partial void HandlerFailed(ILogger logger, Exception exception);

    [LoggerMessage(705, LogLevel.Error, "Unexpected socket error on the UDP host")]
    public static partial void SocketError(ILogger logger, Exception exception);

    [LoggerMessage(706, LogLevel.Debug, "Socket error {Error} on receive or send (ignored: a datagram was lost)")]
    public static partial void TransientSocketError(ILogger logger, System.Net.Sockets.SocketError error);

    [LoggerMessage(707, LogLevel.Debug, "Socket error errno {Errno} on an offload receive or send (ignored: the datagrams were lost)")]
    public static partial void TransientSocketErrno(ILogger logger, int errno);
}
