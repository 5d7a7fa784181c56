using Microsoft.Extensions.Logging;

namespace Parley.Chat.Nats;

internal static partial class Log
{
    [LoggerMessage(1100, LogLevel.Information, "Cluster node {Instance} on NATS {Url}: stream {Stream} holds {Messages} messages ({First}..{Last})")]
    public static partial void Started(ILogger logger, string instance, string url, string stream, long messages, ulong first, ulong last);

    [LoggerMessage(1101, LogLevel.Information, "Created the JetStream stream {Stream} ({Replicas} replicas, at most {MaxBytes} bytes)")]
    public static partial void StreamCreated(ILogger logger, string stream, int replicas, long maxBytes);

    [LoggerMessage(1102, LogLevel.Warning, "Node {Instance}: reading the stream stopped after sequence {Delivered} ({Reason}); resuming after it")]
    public static partial void ConsumerFailed(ILogger logger, string instance, long delivered, string reason);

    [LoggerMessage(1103, LogLevel.Error, "Delivering stream sequence {Sequence} failed")]
    public static partial void HostFailed(ILogger logger, long sequence, Exception exception);

    [LoggerMessage(1104, LogLevel.Debug, "Could not refresh the stream's state: {Reason}")]
    public static partial void RefreshFailed(ILogger logger, string reason);

    [LoggerMessage(1105, LogLevel.Debug, "Presence could not be sent: {Reason}")]
    public static partial void PresenceSendFailed(ILogger logger, string reason);

    [LoggerMessage(1106, LogLevel.Warning, "Presence from {Instance} could not be taken: {Reason} ({Suppressed} such lines held back before this one)")]
    public static partial void PresenceFailed(ILogger logger, string instance, string reason, long suppressed);

    [LoggerMessage(1107, LogLevel.Information, "Node {Instance} joined the cluster ({Suppressed} such lines held back before this one)")]
    public static partial void NodeJoined(ILogger logger, string instance, long suppressed);

    [LoggerMessage(1108, LogLevel.Information, "Node {Instance} left the cluster; its {Entries} room memberships end ({Suppressed} such lines held back before this one)")]
    public static partial void NodeLeft(ILogger logger, string instance, int entries, long suppressed);

    [LoggerMessage(1109, LogLevel.Warning, "Node {Instance} was silent for {Seconds} s: taken as gone; its {Entries} room memberships end ({Suppressed} such lines held back before this one)")]
    public static partial void NodeSilent(ILogger logger, string instance, double seconds, int entries, long suppressed);

    [LoggerMessage(1110, LogLevel.Warning, "The presence snapshot of {Instance} was refused: more than a node holds ({Entries} pairs so far) or pages that go nowhere ({Suppressed} such lines held back before this one)")]
    public static partial void SnapshotRefused(ILogger logger, string instance, int entries, long suppressed);

    [LoggerMessage(1111, LogLevel.Error, "The stream {Stream} was deleted and created again (its sequences started over): this node's ids no longer match it; sends are refused until the node is restarted")]
    public static partial void StreamReplaced(ILogger logger, string stream);

    [LoggerMessage(1112, LogLevel.Warning, "Stream sequence {Sequence} on {Subject} holds a record for another room; skipped")]
    public static partial void WrongSubject(ILogger logger, long sequence, string subject);

    [LoggerMessage(1113, LogLevel.Error, "Node {Instance}: JetStream's confirmations can no longer be received ({Reason}); sends are refused until the node is restarted")]
    public static partial void AcksStopped(ILogger logger, string instance, string reason);
}
