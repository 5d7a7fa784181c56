using System.Net;
using Microsoft.Extensions.Logging;

namespace Parley.Chat;

/// <summary>The chat server's log messages (event ids 6xx).</summary>
internal static partial class Log
{
    [LoggerMessage(600, LogLevel.Information, "Session {Session} started: user {User} from {Remote}")]
    public static partial void SessionStarted(ILogger logger, string session, string user, EndPoint? remote);

    [LoggerMessage(601, LogLevel.Information, "Session {Session} of {User} ended: {Reason}")]
    public static partial void SessionEnded(ILogger logger, string session, string user, CloseReason reason);

    // Lines a peer can provoke pass the server's log budget; {Suppressed} counts those held back before each.
    [LoggerMessage(602, LogLevel.Warning, "Session {Session} from {Remote}: login as {User} failed ({Suppressed} lines held back before this one)")]
    public static partial void LoginFailed(ILogger logger, string session, string user, EndPoint? remote, long suppressed);

    [LoggerMessage(603, LogLevel.Warning, "Session {Session} from {Remote}: login as {User} throttled after repeated failures ({Suppressed} lines held back before this one)")]
    public static partial void LoginThrottled(ILogger logger, string session, string user, EndPoint? remote, long suppressed);

    [LoggerMessage(604, LogLevel.Warning, "Session {Session} from {Remote}: closed, too many errors (more than {Limit} a minute; last {Code}) ({Suppressed} lines held back before this one)")]
    public static partial void TooManyErrors(ILogger logger, string session, EndPoint? remote, int limit, string code, long suppressed);

    [LoggerMessage(605, LogLevel.Error, "Session {Session}: a message could not be stored ({Suppressed} such lines held back before this one)")]
    public static partial void StoreFailed(ILogger logger, string session, long suppressed, Exception exception);

    [LoggerMessage(606, LogLevel.Warning, "Login is required but {Path} has no users yet: add one with 'parley users add NAME --data {DataDirectory}'")]
    public static partial void NoUsers(ILogger logger, string path, string dataDirectory);

    [LoggerMessage(607, LogLevel.Debug, "Session {Session} from {Remote}: bad input ({Code}: {Message}); further bad input on this session is not logged ({Suppressed} lines from all sessions held back before this one)")]
    public static partial void BadInput(ILogger logger, string session, EndPoint? remote, string code, string message, long suppressed);

    [LoggerMessage(608, LogLevel.Error, "Session {Session} from {Remote}: a {Command} command failed unexpectedly; closing the session ({Suppressed} such lines held back before this one)")]
    public static partial void CommandFailed(ILogger logger, string session, EndPoint? remote, string command, long suppressed, Exception exception);

    [LoggerMessage(609, LogLevel.Warning, "Private data is not private: {Problem}")]
    public static partial void DataTooOpen(ILogger logger, string problem);

    [LoggerMessage(610, LogLevel.Warning, "Session {Session}: a message could not be stored in the cluster: {Reason} ({Suppressed} such lines held back before this one)")]
    public static partial void BackplaneUnavailable(ILogger logger, string session, long suppressed, string reason);

    [LoggerMessage(611, LogLevel.Warning, "Message {Id} from the cluster is not for a room of this node, or larger than its --max-message-bytes (do the nodes' rooms files or limits differ?); skipped ({Suppressed} such lines held back before this one)")]
    public static partial void ForeignRecord(ILogger logger, long id, long suppressed);

    [LoggerMessage(612, LogLevel.Warning, "Could not tell the cluster that {User} entered or left {Room} ({Suppressed} such lines held back before this one)")]
    public static partial void PresenceFailed(ILogger logger, string room, string user, long suppressed, Exception exception);
}
