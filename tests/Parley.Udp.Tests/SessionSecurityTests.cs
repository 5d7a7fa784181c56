using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Parley.Udp.Tests;

/// <summary>
/// Packets of a session are authenticated with keys agreed in the handshake: a forged packet
/// naming a session is dropped and counted and changes nothing, and a session's address moves
/// only to an address that answers a path challenge.
/// </summary>
public class SessionSecurityTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    // What issue 16's attacker sent: a padding-only Data packet with the victim's session id and a
    // higher packet number, with a correct CRC32C (the checksum is no secret).
    private static byte[] ForgedData(uint sessionId, uint packetNumber, int padding = 32)
    {
        byte[] packet = new byte[PacketCodec.Overhead + padding];
        PacketCodec.Write(packet, new PacketHeader(PacketType.Data, sessionId, packetNumber), new byte[padding]);
        return packet;
    }

    [Fact]
    public async Task A_forged_data_packet_from_another_socket_does_not_move_the_session()
    {
        await using UdpHost server = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0));
        server.MessageReceived += (UdpPeer peer, in UdpMessage m) => peer.Send(m.Data, m.Mode, m.Channel);
        await using UdpHost client = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0));
        var echoed = new ConcurrentQueue<int>();
        client.MessageReceived += (UdpPeer p, in UdpMessage m) => echoed.Enqueue(BinaryPrimitives.ReadInt32LittleEndian(m.Data));
        UdpPeer victim = await client.ConnectAsync(server.LocalEndPoint).WaitAsync(Limit);
        victim.Send(SessionTests.Payload(1, 16));
        await Waits.UntilAsync(() => echoed.Count == 1, "the first echo");
        UdpPeer session = Assert.Single(server.GetPeers());
        IPEndPoint victimAddress = session.RemoteEndPoint;

        using var attacker = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        attacker.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        attacker.SendTo(ForgedData(session.LocalSessionId, 1_000_000), server.LocalEndPoint);
        attacker.SendTo(ForgedData(session.LocalSessionId, 1_000_001, padding: 1000), server.LocalEndPoint);
        await Waits.UntilAsync(() => server.GetDropCount(DropReason.AuthenticationFailed) == 2, "the forged packets to be dropped");

        victim.Send(SessionTests.Payload(2, 16));
        await Waits.UntilAsync(() => echoed.Count == 2, "the victim's next echo");
        Assert.Equal([1, 2], echoed);
        Assert.Equal(victimAddress, session.RemoteEndPoint);
        Assert.Equal(PeerState.Connected, session.State);
        Assert.Equal(0, attacker.Available); // the echo went to the victim, nothing to the attacker
    }

    [Fact]
    public void A_forged_data_packet_on_the_simulated_network_does_not_move_the_session()
    {
        (Simulation sim, UdpHost server, _, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(70);
        var moved = new List<UdpPeer>();
        server.PeerAddressChanged += moved.Add;
        sim.Inject(Simulation.At(666), server, ForgedData(toClient.LocalSessionId, 1_000_000));
        sim.RunFor(TimeSpan.FromMilliseconds(10));
        Assert.Empty(moved);
        Assert.Equal(Simulation.At(2), toClient.RemoteEndPoint);
        Assert.Equal(1, server.GetDropCount(DropReason.AuthenticationFailed));
        Assert.Equal(1, server.GetStatistics().AuthenticationFailures);

        var got = 0;
        server.MessageReceived += (UdpPeer p, in UdpMessage m) => got++;
        toServer.Send([1, 2, 3]);
        Assert.True(sim.RunUntil(() => got == 1, TimeSpan.FromSeconds(1)));
    }

    private static readonly byte DataByte = (PacketCodec.Version << 4) | (byte)PacketType.Data;

    [Fact]
    public void Forged_packets_from_the_peers_own_address_change_nothing_and_a_silent_peer_still_times_out()
    {
        (Simulation sim, UdpHost server, _, _, UdpPeer toClient) = SessionTests.Connected(71, options: new UdpHostOptions { HeartbeatTimeout = TimeSpan.FromSeconds(3) });
        sim.RunFor(TimeSpan.FromMilliseconds(200));
        UdpStatistics before = toClient.GetStatistics();
        sim.Silence(Simulation.At(2));

        // Every 100 ms a forged packet that an unauthenticated receiver would take as traffic:
        // the right session, newer packet numbers, a valid checksum, from the peer's own address.
        int forged = 0;
        while (toClient.State == PeerState.Connected && forged < 100)
        {
            sim.Inject(Simulation.At(2), server, ForgedData(toClient.LocalSessionId, 1_000 + (uint)forged++, padding: 40));
            sim.RunFor(TimeSpan.FromMilliseconds(100));
        }

        Assert.Equal(CloseReason.IdleTimeout, toClient.CloseReason);
        Assert.InRange(forged, 25, 35); // about the 3 s heartbeat timeout: the forged packets kept nothing alive
        UdpStatistics after = toClient.GetStatistics();
        Assert.Equal(before.PacketsReceived, after.PacketsReceived);
        Assert.Equal(before.BytesReceived, after.BytesReceived);
        Assert.Equal(before.SmoothedRtt, after.SmoothedRtt);
        Assert.Equal(forged, server.GetDropCount(DropReason.AuthenticationFailed));
    }

    [Fact]
    public void A_genuine_packet_tampered_with_and_given_a_fresh_checksum_is_dropped()
    {
        (Simulation sim, UdpHost server, _, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(72);
        var got = new List<byte>();
        server.MessageReceived += (UdpPeer p, in UdpMessage m) => got.Add(m.Data[0]);
        bool tampered = false;
        sim.Network.Intercept = (from, to, bytes) =>
        {
            if (tampered || bytes[0] != DataByte || !from.Equals(Simulation.At(2)))
            {
                return false;
            }

            tampered = true;
            bytes[PacketCodec.HeaderSize + 3] ^= 0x40; // a bit of the encrypted frames
            int end = bytes.Length - PacketCodec.ChecksumSize;
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(end), Crc32C.Compute(bytes.AsSpan(0, end)));
            sim.Network.Send(from, to, bytes);
            return true;
        };

        toServer.Send([42]);
        Assert.True(sim.RunUntil(() => got.Count == 1, TimeSpan.FromSeconds(2))); // the retransmission, not the tampered copy
        Assert.True(tampered);
        Assert.Equal([42], got);
        Assert.Equal(1, server.GetDropCount(DropReason.AuthenticationFailed));
        Assert.Equal(0, server.GetDropCount(DropReason.BadChecksum));
    }

    [Fact]
    public void A_genuine_packet_raced_ahead_from_another_address_is_taken_but_the_session_stays_where_it_is()
    {
        (Simulation sim, UdpHost server, _, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(73);
        var moved = new List<UdpPeer>();
        server.PeerAddressChanged += moved.Add;
        var got = new List<byte>();
        server.MessageReceived += (UdpPeer p, in UdpMessage m) => got.Add(m.Data[0]);
        bool stolen = false;
        int toAttacker = 0;
        sim.Network.Intercept = (from, to, bytes) =>
        {
            toAttacker += to.Equals(Simulation.At(666)) ? 1 : 0;
            if (!stolen && from.Equals(Simulation.At(2)) && bytes[0] == DataByte)
            {
                // An attacker on the path takes the client's packet and sends it on from its own address.
                stolen = true;
                sim.Network.Send(Simulation.At(666), to, bytes);
                return true;
            }

            return false;
        };

        toServer.Send([42]);
        sim.RunFor(TimeSpan.FromSeconds(3));
        toServer.Send([43]);
        Assert.True(sim.RunUntil(() => got.Count == 2, TimeSpan.FromSeconds(2)));
        Assert.True(stolen);
        Assert.Equal([42, 43], got); // the raced packet was authentic: its message was taken, once
        Assert.Empty(moved);
        Assert.Equal(Simulation.At(2), toClient.RemoteEndPoint);
        Assert.InRange(toAttacker, 1, 3); // path challenges only: nothing else went to the attacker, and not forever
    }

    [Fact]
    public void A_port_change_moves_the_session_only_when_the_new_address_answers_the_challenge()
    {
        (Simulation sim, UdpHost server, UdpHost client, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(74);
        var moved = new List<IPEndPoint>();
        server.PeerAddressChanged += p => moved.Add(p.RemoteEndPoint);
        var got = new List<byte>();
        server.MessageReceived += (UdpPeer p, in UdpMessage m) => got.Add(m.Data[0]);
        sim.Move(client, 7777);

        // The first packet from the new port gets through; then everything from it is lost for a while.
        int fromNewPort = 0;
        bool blocked = true;
        sim.Network.Intercept = (from, to, bytes) => blocked && from.Equals(Simulation.At(7777)) && fromNewPort++ > 0;
        toServer.Send([1]);
        Assert.True(sim.RunUntil(() => got.Count == 1, TimeSpan.FromSeconds(1))); // taken before validation
        sim.RunFor(TimeSpan.FromMilliseconds(300));
        Assert.Empty(moved); // its answer to the challenge never arrived
        Assert.Equal(Simulation.At(2), toClient.RemoteEndPoint);

        blocked = false;
        toServer.Send([2]);
        Assert.True(sim.RunUntil(() => moved.Count == 1 && got.Count == 2, TimeSpan.FromSeconds(10)));
        Assert.Equal([Simulation.At(7777)], moved);
        Assert.Equal(Simulation.At(7777), toClient.RemoteEndPoint);
    }

    [Fact]
    public void An_unauthenticated_close_naming_a_live_session_is_dropped()
    {
        (Simulation sim, UdpHost server, _, _, UdpPeer toClient) = SessionTests.Connected(75);
        byte[] close = new byte[PacketCodec.Overhead + 1];
        PacketCodec.Write(close, new PacketHeader(PacketType.Close, toClient.LocalSessionId, 0), [(byte)CloseReason.RemoteClose]);
        sim.Inject(Simulation.At(2), server, close); // from the peer's own address, even
        sim.RunFor(TimeSpan.FromMilliseconds(10));
        Assert.Equal(PeerState.Connected, toClient.State);
        Assert.Equal(1, server.GetDropCount(DropReason.AuthenticationFailed));
    }

    [Fact]
    public void A_tampered_accept_does_not_bring_the_session_up_and_the_real_one_does()
    {
        var sim = new Simulation(76);
        UdpHost server = sim.AddHost(1);
        UdpHost client = sim.AddHost(2);
        int tampered = 0;
        using var other = PacketProtection.CreateKey();
        byte acceptByte = (PacketCodec.Version << 4) | (byte)PacketType.Accept;
        sim.Network.Intercept = (from, to, bytes) =>
        {
            if (bytes[0] != acceptByte || tampered > 0)
            {
                return false;
            }

            // Someone who saw the Connect answers first, with a key of its own and a valid checksum.
            tampered++;
            PacketProtection.WritePublicKey(other, bytes.AsSpan(PacketCodec.HeaderSize + 14, PacketProtection.PublicKeySize));
            int end = bytes.Length - PacketCodec.ChecksumSize;
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(end), Crc32C.Compute(bytes.AsSpan(0, end)));
            sim.Network.Send(from, to, bytes);
            return true;
        };

        UdpPeer peer = client.Connect(Simulation.At(1));
        Assert.True(sim.RunUntil(() => peer.State == PeerState.Connected, TimeSpan.FromSeconds(5)));
        Assert.Equal(1, tampered);
        Assert.Equal(1, client.GetDropCount(DropReason.BadHandshake));
        Assert.Equal(1, server.PeerCount); // the repeated Connect was answered with the same Accept, not a second session
        var got = 0;
        server.MessageReceived += (UdpPeer p, in UdpMessage m) => got++;
        peer.Send([1]);
        Assert.True(sim.RunUntil(() => got == 1, TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public void Keys_change_every_epoch_of_packets_and_a_stream_goes_on_across_the_change()
    {
        (Simulation sim, UdpHost server, _, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(77, options: new UdpHostOptions { MtuProbing = false });
        sim.RunFor(TimeSpan.FromMilliseconds(100)); // nothing in flight
        long start = (1L << PacketProtection.EpochShift) - 100;
        toServer.StartPacketNumbersAt(start);
        toClient.StartPacketNumbersAt(start);
        sim.Network.Conditions = new NetworkConditions { Loss = 0.02, Reorder = 0.05, Delay = TimeSpan.FromMilliseconds(2), Jitter = TimeSpan.FromMilliseconds(2) };
        var got = new List<int>();
        server.MessageReceived += (UdpPeer p, in UdpMessage m) => got.Add(BinaryPrimitives.ReadInt32LittleEndian(m.Data));
        for (int i = 0; i < 2000; i++)
        {
            toServer.Send(SessionTests.Payload(i, 300));
        }

        Assert.True(sim.RunUntil(() => got.Count == 2000 && toServer.GetStatistics().PendingMessages == 0, TimeSpan.FromSeconds(30)));
        Assert.Equal(Enumerable.Range(0, 2000), got);
        Assert.True(toServer.NextPacketNumber > (1L << PacketProtection.EpochShift) + 100, $"{toServer.NextPacketNumber}: the stream crossed the epoch");
        Assert.Equal(0, server.GetDropCount(DropReason.AuthenticationFailed));
    }
}
