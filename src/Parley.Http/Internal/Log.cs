using System.Net;
using Microsoft.Extensions.Logging;

namespace Parley.Http;

/// <summary>The HTTP server's log lines (event ids 800–899).</summary>
internal static partial class Log
{
    [LoggerMessage(800, LogLevel.Information, "HTTP server listening on {Address}")]
    public static partial void Listening(ILogger logger, string address);

    [LoggerMessage(801, LogLevel.Debug, "{Remote}: answered {Status} and closed: {Reason}")]
    public static partial void RequestRejected(ILogger logger, int status, string reason, EndPoint? remote);

    [LoggerMessage(802, LogLevel.Debug, "{Remote}: did not take its response in time; aborted")]
    public static partial void SendTimedOut(ILogger logger, EndPoint? remote);

    [LoggerMessage(803, LogLevel.Warning, "Connection from {Remote} failed")]
    public static partial void ConnectionFailed(ILogger logger, EndPoint? remote, Exception exception);

    [LoggerMessage(804, LogLevel.Error, "A handler failed on {Target}")]
    public static partial void HandlerFailed(ILogger logger, string target, Exception exception);

    [LoggerMessage(805, LogLevel.Error, "A handler wrote a {Method} response ({Status}) shorter than its Content-Length; the connection was closed")]
    public static partial void IncompleteResponse(ILogger logger, HttpRequestMethod method, int status);

    // A peer can provoke this; the server's log budget applies ({Suppressed} held back before it).
    [LoggerMessage(806, LogLevel.Warning, "Connection from {Remote} refused: {Limit} connections open ({Suppressed} lines held back before this one)")]
    public static partial void ConnectionRefused(ILogger logger, EndPoint? remote, int limit, long suppressed);

    [LoggerMessage(809, LogLevel.Warning, "Connection from {Remote} refused: {Limit} connections open from that address ({Suppressed} lines held back before this one)")]
    public static partial void AddressRefused(ILogger logger, EndPoint? remote, int limit, long suppressed);

    [LoggerMessage(807, LogLevel.Error, "Accepting on {Address} failed; that listener stops")]
    public static partial void AcceptFailed(ILogger logger, string address, Exception exception);

    [LoggerMessage(808, LogLevel.Information, "HTTP server stopping: {Count} connections to close")]
    public static partial void Stopping(ILogger logger, int count);
}
