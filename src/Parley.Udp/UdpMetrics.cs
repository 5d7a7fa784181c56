using System.Diagnostics.Metrics;

namespace Parley.Udp;

/// <summary>
/// Reliable-UDP instruments on the meter <c>Parley.Udp</c>: observable totals over every live
/// host (packets, bytes, messages, retransmissions, losses, drops, sessions), read when a
/// listener collects — nothing is counted twice on the hot path.
/// </summary>
public static class UdpMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "Parley.Udp";

    private static readonly Meter s_meter = new(MeterName);
    private static readonly List<WeakReference<UdpHost>> s_hosts = [];

    static UdpMetrics()
    {
        Observe("parley.udp.packets.sent", "{packet}", "Datagrams sent", s => s.PacketsSent);
        Observe("parley.udp.packets.received", "{packet}", "Datagrams received", s => s.PacketsReceived);
        Observe("parley.udp.bytes.sent", "By", "Datagram bytes sent", s => s.BytesSent);
        Observe("parley.udp.bytes.received", "By", "Datagram bytes received", s => s.BytesReceived);
        Observe("parley.udp.messages.sent", "{message}", "Messages queued by the application", s => s.MessagesSent);
        Observe("parley.udp.messages.received", "{message}", "Messages delivered to the application", s => s.MessagesReceived);
        Observe("parley.udp.retransmissions", "{fragment}", "Message fragments sent again", s => s.Retransmissions);
        Observe("parley.udp.packets.lost", "{packet}", "Packets declared lost", s => s.PacketsLost);
        Observe("parley.udp.packets.dropped", "{packet}", "Datagrams dropped (bad checksum, malformed, unknown session, blacklisted, failed authentication, over a limit)", s => s.PacketsDropped);
        Observe("parley.udp.packets.unauthenticated", "{packet}", "Datagrams for a live session that failed authentication (forged or tampered with; dropped, nothing acted on)", s => s.AuthenticationFailures);
        s_meter.CreateObservableUpDownCounter("parley.udp.sessions", () => Sum(h => h.PeerCount), "{session}", "Sessions open");
    }

    internal static void Register(UdpHost host)
    {
        lock (s_hosts)
        {
            s_hosts.RemoveAll(w => !w.TryGetTarget(out _));
            s_hosts.Add(new WeakReference<UdpHost>(host));
        }
    }

    internal static void Unregister(UdpHost host)
    {
        lock (s_hosts)
        {
            s_hosts.RemoveAll(w => !w.TryGetTarget(out UdpHost? h) || ReferenceEquals(h, host));
        }
    }

    private static void Observe(string name, string unit, string description, Func<UdpStatistics, long> value) =>
        s_meter.CreateObservableCounter(name, () => Sum(h => value(h.GetStatistics())), unit, description);

    private static long Sum(Func<UdpHost, long> value)
    {
        long total = 0;
        lock (s_hosts)
        {
            foreach (WeakReference<UdpHost> reference in s_hosts)
            {
                if (reference.TryGetTarget(out UdpHost? host))
                {
                    total += value(host);
                }
            }
        }

        return total;
    }
}
