using System.Diagnostics.Metrics;

namespace Parley.Chat;

/// <summary>The chat server's instruments, on the meter <c>Parley.Chat</c>.</summary>
public static class ChatMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "Parley.Chat";

    private static readonly Meter s_meter = new(MeterName);

    /// <summary>Sessions open now.</summary>
    public static readonly UpDownCounter<long> Sessions = s_meter.CreateUpDownCounter<long>("parley.chat.sessions", description: "Chat sessions open");

    /// <summary>Commands received.</summary>
    public static readonly Counter<long> Commands = s_meter.CreateCounter<long>("parley.chat.commands", description: "Commands received");

    /// <summary>Commands refused with an error event.</summary>
    public static readonly Counter<long> Errors = s_meter.CreateCounter<long>("parley.chat.errors", description: "Commands refused");

    /// <summary>Messages accepted into the journal.</summary>
    public static readonly Counter<long> MessagesReceived = s_meter.CreateCounter<long>("parley.chat.messages.received", description: "Messages accepted");

    /// <summary>Message deliveries (one per recipient session).</summary>
    public static readonly Counter<long> MessagesDelivered = s_meter.CreateCounter<long>("parley.chat.messages.delivered", description: "Message deliveries");

    /// <summary>Bytes of history kept in memory for <c>history</c> (as the events send them), all rooms.</summary>
    public static readonly UpDownCounter<long> HistoryBytes = s_meter.CreateUpDownCounter<long>("parley.chat.history.bytes", unit: "By", description: "Memory the rooms' recent history holds (byte rings and indexes)");

    /// <summary>Failed or throttled logins.</summary>
    public static readonly Counter<long> LoginFailures = s_meter.CreateCounter<long>("parley.chat.login.failures", description: "Failed logins");
}
