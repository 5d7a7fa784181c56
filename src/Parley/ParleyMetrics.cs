using System.Diagnostics.Metrics;

namespace Parley;

/// <summary>
/// The <see cref="System.Diagnostics.Metrics"/> instruments Parley publishes under the meter
/// named <see cref="MeterName"/>. Listen with <c>dotnet-counters monitor --counters Parley</c>
/// or a <see cref="MeterListener"/>. Message and byte counts are added once per receive or
/// send batch, not per message, so metrics cost nothing measurable on the hot path.
/// </summary>
public static class ParleyMetrics
{
    /// <summary>The meter name.</summary>
    public const string MeterName = "Parley";

    private static readonly Meter Meter = new(MeterName);

    internal static readonly Counter<long> ConnectionsOpened =
        Meter.CreateCounter<long>("parley.connections.opened", "{connection}", "Connections opened (accepted or connected).");

    internal static readonly Counter<long> ConnectionsClosed =
        Meter.CreateCounter<long>("parley.connections.closed", "{connection}", "Connections closed, tagged with the close reason.");

    internal static readonly UpDownCounter<long> ConnectionsActive =
        Meter.CreateUpDownCounter<long>("parley.connections.active", "{connection}", "Connections open now.");

    internal static readonly Counter<long> MessagesReceived =
        Meter.CreateCounter<long>("parley.messages.received", "{message}", "Messages delivered to the application.");

    internal static readonly Counter<long> MessagesSent =
        Meter.CreateCounter<long>("parley.messages.sent", "{message}", "Frames written to the transport (keep-alives included).");

    internal static readonly Counter<long> Writes =
        Meter.CreateCounter<long>("parley.writes", "{write}", "Writes (system calls) to the transport; messages.sent / writes is how well sends are merged.");

    internal static readonly Counter<long> Reads =
        Meter.CreateCounter<long>("parley.reads", "{read}", "Reads from the transport that returned data.");

    internal static readonly Counter<long> BytesReceived =
        Meter.CreateCounter<long>("parley.bytes.received", "By", "Bytes read from the transport.");

    internal static readonly Counter<long> BytesSent =
        Meter.CreateCounter<long>("parley.bytes.sent", "By", "Bytes written to the transport.");

    internal static readonly Counter<long> MessagesDropped =
        Meter.CreateCounter<long>("parley.messages.dropped", "{message}", "Outbound frames dropped by a slow-consumer policy.");

    internal static readonly Counter<long> SlowConsumerEvents =
        Meter.CreateCounter<long>("parley.slow_consumer.events", "{event}", "Times a send queue passed its limit, tagged with the policy applied.");

    internal static void RecordClosed(CloseReason reason)
    {
        ConnectionsActive.Add(-1);
        if (ConnectionsClosed.Enabled)
        {
            ConnectionsClosed.Add(1, new KeyValuePair<string, object?>("reason", ReasonTag(reason)));
        }
    }

    internal static void RecordSlowConsumer(SlowConsumerPolicy policy, int dropped)
    {
        if (SlowConsumerEvents.Enabled)
        {
            SlowConsumerEvents.Add(1, new KeyValuePair<string, object?>("policy", PolicyTag(policy)));
        }

        if (dropped > 0)
        {
            MessagesDropped.Add(dropped);
        }
    }

    // Cached strings: a tag value per close would otherwise box and format an enum.
    private static string ReasonTag(CloseReason reason) => reason switch
    {
        CloseReason.LocalClose => "local_close",
        CloseReason.RemoteClose => "remote_close",
        CloseReason.LocalAbort => "local_abort",
        CloseReason.ConnectionReset => "connection_reset",
        CloseReason.IdleTimeout => "idle_timeout",
        CloseReason.MessageTimeout => "message_timeout",
        CloseReason.AddressLimit => "address_limit",
        CloseReason.FrameTooLarge => "frame_too_large",
        CloseReason.ProtocolError => "protocol_error",
        CloseReason.SlowConsumer => "slow_consumer",
        CloseReason.ConnectionLimit => "connection_limit",
        CloseReason.ServerShutdown => "server_shutdown",
        CloseReason.ApplicationError => "application_error",
        CloseReason.TransportError => "transport_error",
        _ => "none",
    };

    private static string PolicyTag(SlowConsumerPolicy policy) => policy switch
    {
        SlowConsumerPolicy.DropOldest => "drop_oldest",
        SlowConsumerPolicy.DropNewest => "drop_newest",
        _ => "disconnect",
    };
}
