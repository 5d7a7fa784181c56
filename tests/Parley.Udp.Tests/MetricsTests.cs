using System.Diagnostics.Metrics;

namespace Parley.Udp.Tests;

public class MetricsTests
{
    [Fact]
    public void The_meter_reports_packets_messages_and_sessions_of_live_hosts()
    {
        (Simulation sim, UdpHost server, UdpHost client, UdpPeer toServer, _) = SessionTests.Connected(50);
        var got = 0;
        server.MessageReceived += (UdpPeer p, in UdpMessage m) => got++;
        for (int i = 0; i < 10; i++)
        {
            toServer.Send([1, 2, 3]);
        }

        Assert.True(sim.RunUntil(() => got == 10, TimeSpan.FromSeconds(1)));

        var values = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == UdpMetrics.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => values[instrument.Name] = value);
        listener.Start();
        listener.RecordObservableInstruments();

        // Other tests' hosts may be alive at the same time: the totals are at least ours.
        Assert.True(values["parley.udp.messages.received"] >= 10);
        Assert.True(values["parley.udp.messages.sent"] >= 10);
        Assert.True(values["parley.udp.packets.sent"] >= server.GetStatistics().PacketsSent + client.GetStatistics().PacketsSent);
        Assert.True(values["parley.udp.sessions"] >= 2);
        Assert.Contains("parley.udp.retransmissions", values.Keys);
        Assert.Contains("parley.udp.packets.dropped", values.Keys);
        Assert.Contains("parley.udp.packets.unauthenticated", values.Keys);
    }
}
