using System.Buffers.Binary;
using System.Net;

namespace Parley.Udp.Tests;

/// <summary>Peer management over the simulator: timeouts, heartbeats, port changes, pinning, blacklists, queries.</summary>
public class PeerTests
{
    [Fact]
    public void A_silent_connection_is_kept_alive_by_heartbeats_which_also_measure_rtt()
    {
        (Simulation sim, _, _, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(2, new NetworkConditions { Delay = TimeSpan.FromMilliseconds(15) });
        sim.RunFor(TimeSpan.FromSeconds(60)); // six heartbeat timeouts with nothing sent by the application
        Assert.Equal(PeerState.Connected, toServer.State);
        Assert.Equal(PeerState.Connected, toClient.State);
        Assert.InRange(toServer.SmoothedRtt, TimeSpan.FromMilliseconds(29), TimeSpan.FromMilliseconds(35));
        Assert.True(toServer.GetStatistics().PacketsSent > 50, "heartbeats were sent");
    }

    [Fact]
    public void A_peer_that_vanishes_times_out_and_its_pending_messages_fail()
    {
        (Simulation sim, UdpHost server, UdpHost client, UdpPeer toServer, _) = SessionTests.Connected(3, options: new UdpHostOptions { HeartbeatTimeout = TimeSpan.FromSeconds(3) });
        var failed = new List<uint>();
        client.MessageStateChanged += (p, id, state) =>
        {
            if (state == MessageState.TimedOut)
            {
                failed.Add(id);
            }
        };
        var gone = new List<UdpPeer>();
        server.PeerDisconnected += gone.Add;

        sim.Silence(server);
        uint id = toServer.Send([1, 2, 3]).MessageId;
        Assert.True(sim.RunUntil(() => toServer.State == PeerState.Disconnected, TimeSpan.FromSeconds(10)));
        Assert.Equal(CloseReason.IdleTimeout, toServer.CloseReason);
        Assert.Equal([id], failed);
        Assert.Equal(MessageState.TimedOut, toServer.GetMessageState(id));
        Assert.Equal(SendStatus.Closed, toServer.Send([1]).Status);
        Assert.Empty(client.GetPeers(PeerQuery.Known));
        Assert.Contains(client.DrainPeerChanges(), c => c.Peer == toServer && c.State == PeerState.Disconnected && c.Reason == CloseReason.IdleTimeout);
    }

    [Fact]
    public void A_session_survives_the_client_changing_port_mid_stream()
    {
        var sim = new Simulation(4, new NetworkConditions { Delay = TimeSpan.FromMilliseconds(5), Loss = 0.05 });
        UdpHost server = sim.AddHost(1);
        UdpHost client = sim.AddHost(2);
        (UdpPeer toServer, UdpPeer toClient) = SessionTests.Connect(sim, client, server);
        var got = new List<int>();
        server.MessageReceived += (UdpPeer p, in UdpMessage m) => got.Add(BinaryPrimitives.ReadInt32LittleEndian(m.Data));
        var moved = new List<IPEndPoint>();
        server.PeerAddressChanged += p => moved.Add(p.RemoteEndPoint);

        for (int i = 0; i < 200; i++)
        {
            toServer.Send(SessionTests.Payload(i, 100));
        }

        sim.RunUntil(() => got.Count >= 50, TimeSpan.FromSeconds(10));
        sim.Move(client, 7777); // NAT rebinding
        for (int i = 200; i < 400; i++)
        {
            toServer.Send(SessionTests.Payload(i, 100));
        }

        Assert.True(sim.RunUntil(() => got.Count == 400 && toServer.GetStatistics().PendingMessages == 0, TimeSpan.FromSeconds(30)));
        Assert.Equal(Enumerable.Range(0, 400), got);
        Assert.Equal([Simulation.At(7777)], moved);
        Assert.Equal(Simulation.At(7777), toClient.RemoteEndPoint);
        Assert.Single(server.GetPeers());
    }

    [Fact]
    public void A_replayed_packet_from_another_address_is_dropped_and_does_not_move_the_session()
    {
        (Simulation sim, UdpHost server, UdpHost client, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(5);
        byte[]? captured = null;
        sim.Network.Intercept = (from, to, bytes) =>
        {
            captured ??= from.Equals(Simulation.At(2)) && bytes[0] == ((PacketCodec.Version << 4) | (byte)PacketType.Data) ? bytes : null;
            return false;
        };
        for (int i = 0; i < 5; i++)
        {
            toServer.Send([1, 2, 3]);
            sim.RunFor(TimeSpan.FromMilliseconds(10));
        }

        // A real packet of the session, sealed by the client, sent again from an attacker's address.
        sim.Network.Intercept = null;
        var moved = new List<UdpPeer>();
        server.PeerAddressChanged += moved.Add;
        sim.Inject(Simulation.At(666), server, Assert.IsType<byte[]>(captured));
        sim.RunFor(TimeSpan.FromMilliseconds(10));
        Assert.Equal(Simulation.At(2), toClient.RemoteEndPoint);
        Assert.Empty(moved);
        Assert.Equal(1, server.GetDropCount(DropReason.Replayed));
    }

    [Fact]
    public void A_pinned_peer_is_reconnected_after_the_other_side_restarts()
    {
        var sim = new Simulation(6);
        var options = new UdpHostOptions { HeartbeatTimeout = TimeSpan.FromSeconds(2), PinnedReconnectDelay = TimeSpan.FromMilliseconds(500) };
        UdpHost server = sim.AddHost(1, options);
        UdpHost client = sim.AddHost(2, options);
        UdpPeer first = client.Pin(Simulation.At(1));
        Assert.True(sim.RunUntil(() => first.State == PeerState.Connected, TimeSpan.FromSeconds(5)));
        Assert.True(first.IsPinned);

        sim.Remove(server); // it says Close on the way out
        Assert.True(sim.RunUntil(() => first.State == PeerState.Disconnected, TimeSpan.FromSeconds(5)));
        Assert.Contains(first, client.GetPeers(PeerQuery.Known));

        sim.RunFor(TimeSpan.FromSeconds(8)); // attempts fail while nobody listens
        UdpHost restarted = sim.AddHost(1, options);
        Assert.True(sim.RunUntil(() => client.GetPeers().Count == 1, TimeSpan.FromSeconds(10)));
        UdpPeer second = client.GetPeers()[0];
        Assert.NotSame(first, second);
        Assert.True(second.IsPinned);
        Assert.Equal(1, restarted.PeerCount);

        Assert.True(client.Unpin(Simulation.At(1)));
        Assert.False(second.IsPinned);
    }

    [Fact]
    public void A_blacklisted_address_is_dropped_before_processing_and_its_sessions_end()
    {
        (Simulation sim, UdpHost server, UdpHost client, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(7);
        server.Blacklist(IPAddress.Loopback);
        Assert.Equal(PeerState.Disconnected, toClient.State);
        toServer.Send([1]);
        sim.RunFor(TimeSpan.FromSeconds(1));
        Assert.True(server.GetDropCount(DropReason.Blacklisted) > 0);
        Assert.Equal(0, server.PeerCount);
        UdpPeer again = client.Connect(Simulation.At(1));
        sim.RunFor(TimeSpan.FromSeconds(6));
        Assert.Equal(CloseReason.ConnectFailed, again.CloseReason);

        Assert.True(server.Unblacklist(IPAddress.Loopback));
        UdpPeer third = client.Connect(Simulation.At(1));
        Assert.True(sim.RunUntil(() => third.State == PeerState.Connected, TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public void Queries_list_active_connected_and_known_peers_and_changes_since_the_last_query()
    {
        var sim = new Simulation(8);
        var options = new UdpHostOptions { StartHeartbeatTimeout = TimeSpan.FromSeconds(1), HeartbeatDelay = TimeSpan.FromSeconds(5), HeartbeatTimeout = TimeSpan.FromSeconds(20) };
        UdpHost server = sim.AddHost(1, options);
        UdpHost a = sim.AddHost(2, options);
        UdpHost b = sim.AddHost(3, options);
        SessionTests.Connect(sim, a, server);
        SessionTests.Connect(sim, b, server);
        Assert.Equal(2, server.GetPeers(PeerQuery.Connected).Count);
        Assert.Equal(2, server.GetPeers(PeerQuery.Active).Count);
        Assert.Equal(2, server.DrainPeerChanges().Count(c => c.State == PeerState.Connected));
        Assert.Empty(server.DrainPeerChanges());

        sim.RunFor(TimeSpan.FromSeconds(2)); // silent past the start-heartbeat timeout, heartbeats 5 s apart
        Assert.True(server.GetPeers(PeerQuery.Active).Count < 2);
        Assert.Equal(2, server.GetPeers(PeerQuery.Connected).Count);

        UdpPeer pending = a.Connect(Simulation.At(99)); // nobody there
        Assert.Contains(pending, a.GetPeers(PeerQuery.Known));
        Assert.DoesNotContain(pending, a.GetPeers(PeerQuery.Connected));
    }

    [Fact]
    public void A_server_at_its_session_limit_refuses_with_server_full()
    {
        var sim = new Simulation(9);
        UdpHost server = sim.AddHost(1, new UdpHostOptions { MaxPeers = 1 });
        UdpHost a = sim.AddHost(2);
        UdpHost b = sim.AddHost(3);
        SessionTests.Connect(sim, a, server);
        UdpPeer refused = b.Connect(Simulation.At(1));
        Assert.True(sim.RunUntil(() => refused.State == PeerState.Disconnected, TimeSpan.FromSeconds(10)));
        Assert.Equal(CloseReason.ConnectionLimit, refused.CloseReason);
    }

    [Fact]
    public void Disconnect_tells_the_other_side_at_once()
    {
        (Simulation sim, UdpHost server, UdpHost client, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(10);
        toServer.Disconnect();
        Assert.Equal(CloseReason.LocalClose, toServer.CloseReason);
        Assert.True(sim.RunUntil(() => toClient.State == PeerState.Disconnected, TimeSpan.FromMilliseconds(50)));
        Assert.Equal(CloseReason.RemoteClose, toClient.CloseReason);
    }

    [Fact]
    public async Task A_graceful_disconnect_delivers_everything_pending_before_the_close_even_through_loss()
    {
        (Simulation sim, UdpHost server, UdpHost client, UdpPeer toServer, UdpPeer toClient) =
            SessionTests.Connected(12, new NetworkConditions { Loss = 0.1, Delay = TimeSpan.FromMilliseconds(5) });
        var got = new List<int>();
        server.MessageReceived += (UdpPeer p, in UdpMessage m) => got.Add(System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(m.Data));
        uint[] ids = [.. Enumerable.Range(0, 300).Select(i => toServer.Send(SessionTests.Payload(i, i % 50 == 0 ? 5000 : 100)).MessageId)];

        Task<bool> closed = toServer.DisconnectAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(SendStatus.Closed, toServer.Send([1]).Status); // closing: nothing new
        Assert.Equal(PeerState.Connected, toClient.State);
        Assert.True(sim.RunUntil(() => closed.IsCompleted, TimeSpan.FromSeconds(30)));

        Assert.True(await closed);
        Assert.Equal(Enumerable.Range(0, 300), got);
        Assert.All(ids, id => Assert.Equal(MessageState.Delivered, toServer.GetMessageState(id)));
        Assert.Equal(CloseReason.LocalClose, toServer.CloseReason);
        Assert.True(sim.RunUntil(() => toClient.State == PeerState.Disconnected, TimeSpan.FromSeconds(15)));
        Assert.Equal(CloseReason.RemoteClose, toClient.CloseReason);
    }

    [Fact]
    public async Task A_graceful_disconnect_that_cannot_finish_ends_at_its_timeout_and_fails_what_is_left()
    {
        (Simulation sim, UdpHost server, UdpHost client, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(13);
        sim.Network.Conditions = new NetworkConditions { Loss = 1.0 }; // nothing gets through any more
        uint id = toServer.Send([1, 2, 3]).MessageId;
        Task<bool> closed = toServer.DisconnectAsync(TimeSpan.FromMilliseconds(500));
        Assert.False(sim.RunUntil(() => closed.IsCompleted, TimeSpan.FromMilliseconds(400)));
        Assert.True(sim.RunUntil(() => closed.IsCompleted, TimeSpan.FromMilliseconds(200)));

        Assert.False(await closed);
        Assert.Equal(MessageState.TimedOut, toServer.GetMessageState(id));
        Assert.Equal(CloseReason.LocalClose, toServer.CloseReason);
        Assert.False(await toServer.DisconnectAsync(TimeSpan.FromSeconds(1))); // already ended
    }

    [Fact]
    public void A_session_goes_on_past_two_to_the_32_packets_under_loss_and_reordering()
    {
        // Packet numbers are 64-bit inside and 32-bit on the wire: start both directions just
        // below 2^32 and stream through the wrap with losses, acks, nacks and retransmissions.
        var options = new UdpHostOptions { MtuProbing = false };
        (Simulation sim, UdpHost server, UdpHost client, UdpPeer toServer, UdpPeer toClient) =
            SessionTests.Connected(14, options: options);
        sim.RunFor(TimeSpan.FromMilliseconds(100)); // nothing in flight
        long start = (1L << 32) - 2000;
        toServer.StartPacketNumbersAt(start);
        toClient.StartPacketNumbersAt(start);
        sim.Network.Conditions = new NetworkConditions { Loss = 0.05, Delay = TimeSpan.FromMilliseconds(2), Jitter = TimeSpan.FromMilliseconds(1), Reorder = 0.02 };

        var got = new List<int>();
        server.MessageReceived += (UdpPeer p, in UdpMessage m) => got.Add(System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(m.Data));
        const int count = 6000;
        int sent = 0;
        Assert.True(sim.RunUntil(
            () =>
            {
                while (sent < count && toServer.Send(SessionTests.Payload(sent, sent % 97 == 0 ? 4000 : 300)).IsQueued)
                {
                    sent++;
                }

                return got.Count == count && toServer.GetStatistics().PendingMessages == 0;
            },
            TimeSpan.FromSeconds(60)));

        Assert.Equal(Enumerable.Range(0, count), got);
        Assert.True(toServer.NextPacketNumber > 1L << 32, $"the sender passed 2^32: {toServer.NextPacketNumber}");
        Assert.True(toClient.NextPacketNumber > start, "the receiver sent acknowledgements past the start too");
        Assert.True(toServer.GetStatistics().Retransmissions > 0);
        Assert.Equal(PeerState.Connected, toServer.State);
    }

    [Theory]
    [InlineData(5u, 6L, 5L)]
    [InlineData(0xFFFF_FFF0u, (1L << 32) + 5, 0xFFFF_FFF0L)]           // just before a wrap, expected just after
    [InlineData(3u, (1L << 32) - 10, (1L << 32) + 3)]                   // just after a wrap, expected just before
    [InlineData(0x8000_0000u, (3L << 32) + 0x10, (3L << 32) + 0x8000_0000L)]   // half a window ahead is nearer than half behind
    public void Packet_numbers_expand_to_the_nearest_full_number(uint truncated, long expected, long full)
    {
        Assert.Equal(full, PacketCodec.ExpandPacketNumber(truncated, expected));
    }

    [Fact]
    public void Path_mtu_probing_climbs_to_what_the_path_carries_and_falls_back_when_probes_are_lost()
    {
        var sim = new Simulation(11, new NetworkConditions { Mtu = 4000, Delay = TimeSpan.FromMilliseconds(2) });
        var options = new UdpHostOptions { MaxPacketSize = 9000 };
        UdpHost server = sim.AddHost(1, options);
        UdpHost client = sim.AddHost(2, options);
        (UdpPeer toServer, _) = SessionTests.Connect(sim, client, server);
        sim.RunFor(TimeSpan.FromSeconds(10));
        int size = toServer.GetStatistics().PacketSize;
        Assert.InRange(size, 4000 - 16, 4000);

        // Data flows at the found size, with no loss caused by the probes.
        var got = 0;
        server.MessageReceived += (UdpPeer p, in UdpMessage m) => got++;
        toServer.Send(new byte[100_000]);
        Assert.True(sim.RunUntil(() => got == 1, TimeSpan.FromSeconds(5)));
        Assert.Equal(0, toServer.GetStatistics().Retransmissions);
    }
}
