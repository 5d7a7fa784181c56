using Microsoft.Extensions.Logging;

namespace Parley.Chat;

/// <summary>The chat client's log messages (event ids 65x).</summary>
internal static partial class ClientLog
{
    [LoggerMessage(650, LogLevel.Warning, "Chat connection {Connection}: the server broke the protocol, closing: {Problem}")]
    public static partial void ProtocolViolation(ILogger logger, Connection connection, string problem);

    [LoggerMessage(651, LogLevel.Error, "Chat connection {Connection}: an event handler threw; closing")]
    public static partial void HandlerFailed(ILogger logger, Connection connection, Exception exception);

    [LoggerMessage(652, LogLevel.Warning, "Chat connection {Connection}: no answer to {Command} within {Timeout}; closing")]
    public static partial void RequestTimedOut(ILogger logger, Connection connection, string command, TimeSpan timeout);

    [LoggerMessage(653, LogLevel.Debug, "Chat connection {Connection}: ignored an event this version does not know: {Name}")]
    public static partial void UnknownEvent(ILogger logger, Connection connection, string name);
}
