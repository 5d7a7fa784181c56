using System.Buffers.Binary;

namespace Parley.Udp.Tests;

/// <summary>Two connected hosts on a simulated network: the client's peer for the server, and the server's for the client.</summary>
internal sealed record Pair(Simulation Sim, UdpHost Server, UdpHost Client, UdpPeer ToServer, UdpPeer ToClient);

/// <summary>Whole-protocol tests over the simulated network with a virtual clock.</summary>
public class SessionTests
{
    internal static (UdpPeer Client, UdpPeer Server) Connect(Simulation sim, UdpHost client, UdpHost server, int serverPort = 1)
    {
        UdpPeer? accepted = null;
        server.PeerConnected += p => accepted = p;
        UdpPeer peer = client.Connect(Simulation.At(serverPort));
        Assert.True(sim.RunUntil(() => peer.State == PeerState.Connected && accepted is not null, TimeSpan.FromSeconds(10)), $"not connected: {peer.State} {peer.CloseReason}");
        return (peer, accepted!);
    }

    /// <summary>A simulation with a server host on port 1 and a client host on port 2, connected.
    /// The handshake runs on a clean network; <paramref name="conditions"/> apply from then on.</summary>
    internal static Pair Connected(int seed, NetworkConditions? conditions = null, UdpHostOptions? options = null)
    {
        var sim = new Simulation(seed, conditions is null ? null : NetworkConditions.Perfect with { Delay = conditions.Delay });
        UdpHost server = sim.AddHost(1, options);
        UdpHost client = sim.AddHost(2, options);
        (UdpPeer toServer, UdpPeer toClient) = Connect(sim, client, server);
        if (conditions is not null)
        {
            sim.Network.Conditions = conditions;
        }

        return new Pair(sim, server, client, toServer, toClient);
    }

    internal static byte[] Payload(int index, int size)
    {
        byte[] data = new byte[Math.Max(size, 4)];
        BinaryPrimitives.WriteInt32LittleEndian(data, index);
        for (int i = 4; i < data.Length; i++)
        {
            data[i] = (byte)(index + i);
        }

        return data;
    }

    [Fact]
    public void A_handshake_connects_both_sides_and_reliable_ordered_messages_arrive_in_order()
    {
        (Simulation sim, UdpHost server, UdpHost client, UdpPeer toServer, UdpPeer toClient) = Connected(1);
        Assert.Equal(toServer.RemoteSessionId, toClient.LocalSessionId);
        Assert.Equal(toClient.RemoteSessionId, toServer.LocalSessionId);

        var received = new List<int>();
        server.MessageReceived += (UdpPeer p, in UdpMessage m) => received.Add(BinaryPrimitives.ReadInt32LittleEndian(m.Data));
        var states = new Dictionary<uint, List<MessageState>>();
        client.MessageStateChanged += (p, id, state) => (states.TryGetValue(id, out var l) ? l : states[id] = []).Add(state);
        var ids = new List<uint>();
        for (int i = 0; i < 1000; i++)
        {
            SendResult result = toServer.Send(Payload(i, 60));
            Assert.Equal(SendStatus.Queued, result.Status);
            ids.Add(result.MessageId);
        }

        Assert.True(sim.RunUntil(() => received.Count == 1000 && toServer.GetStatistics().PendingMessages == 0, TimeSpan.FromSeconds(10)));
        Assert.Equal(Enumerable.Range(0, 1000), received);
        foreach (uint id in ids)
        {
            Assert.Equal([MessageState.Sent, MessageState.Received, MessageState.Delivered], states[id]);
            Assert.Equal(MessageState.Delivered, toServer.GetMessageState(id));
        }

        UdpStatistics stats = toServer.GetStatistics();
        Assert.Equal(0, stats.Retransmissions);
        Assert.True(stats.PacketsSent < 200, $"{stats.PacketsSent} packets for 1000 small messages: they should coalesce");
    }
}
