using System.Buffers.Binary;
using System.Net;

namespace Parley.Udp.Tests;

/// <summary>
/// What someone who sees a session's packets (and can send copies from elsewhere, but not stop
/// the originals) can do with them: move the session, replay a refused packet, reuse a cookie,
/// or make the peer work with Nack frames. The scenarios are the ones a cold review of issue 16's
/// session security found.
/// </summary>
public class PathAndReplayTests
{
    private const int MiB = 1024 * 1024;
    private static readonly IPEndPoint ClientAddress = Simulation.At(2);
    private static readonly IPEndPoint ServerAddress = Simulation.At(1);
    private static readonly IPEndPoint Attacker = Simulation.At(666);
    private static readonly byte DataByte = (PacketCodec.Version << 4) | (byte)PacketType.Data;

    /// <summary>
    /// An observer on the path: every Data packet from the client is copied and sent on from the
    /// attacker's address so that the copy arrives first; what the server sends the attacker is
    /// relayed to the client as if from the server. With <paramref name="holdOriginals"/>, the
    /// client's originals are held back until the server has challenged the attacker's address
    /// (as a slower genuine path would).
    /// </summary>
    private static (List<IPEndPoint> Moved, Func<int> ToAttacker) RaceEverything(Simulation sim, UdpHost server, bool holdOriginals)
    {
        var moved = new List<IPEndPoint>();
        server.PeerAddressChanged += p => moved.Add(p.RemoteEndPoint);
        var held = new List<byte[]>();
        bool inside = false;
        bool challenged = false;
        int toAttacker = 0;
        sim.Network.Intercept = (from, to, bytes) =>
        {
            if (inside)
            {
                return false;
            }

            inside = true;
            try
            {
                if (to.Equals(Attacker))
                {
                    toAttacker++;
                    sim.Network.Send(ServerAddress, ClientAddress, bytes);
                    if (!challenged)
                    {
                        challenged = true;
                        foreach (byte[] original in held)
                        {
                            sim.Network.Send(ClientAddress, ServerAddress, original);
                        }

                        held.Clear();
                    }

                    return true;
                }

                if (from.Equals(ClientAddress) && to.Equals(ServerAddress) && bytes[0] == DataByte)
                {
                    sim.Network.Send(Attacker, to, bytes);
                    if (holdOriginals && !challenged)
                    {
                        held.Add(bytes.ToArray());
                    }
                    else
                    {
                        sim.Network.Send(from, to, bytes);
                    }

                    return true;
                }

                return false;
            }
            finally
            {
                inside = false;
            }
        };

        return (moved, () => toAttacker);
    }

    [Fact]
    public void Copies_raced_ahead_from_another_address_with_the_challenge_relayed_do_not_move_the_session()
    {
        // Review R4: the response to the challenge, in a copy raced ahead from the attacker's address, moved the session.
        (Simulation sim, UdpHost server, _, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(905);
        (List<IPEndPoint> moved, _) = RaceEverything(sim, server, holdOriginals: false);
        var got = new List<byte>();
        server.MessageReceived += (UdpPeer p, in UdpMessage m) => got.Add(m.Data[0]);
        for (byte i = 1; i <= 5; i++)
        {
            toServer.Send([i]);
            sim.RunFor(TimeSpan.FromMilliseconds(300));
        }

        Assert.Empty(moved);
        Assert.Equal(ClientAddress, toClient.RemoteEndPoint);
        Assert.Equal([1, 2, 3, 4, 5], got);
    }

    [Fact]
    public void A_session_moved_by_copies_raced_ahead_goes_back_when_the_originals_arrive_from_its_old_address()
    {
        // Review R4, with the genuine path slower: the challenge reaches the attacker's address
        // (and the client, relayed) before the client's originals reach the server.
        (Simulation sim, UdpHost server, _, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(915);
        (List<IPEndPoint> moved, Func<int> toAttacker) = RaceEverything(sim, server, holdOriginals: true);
        var got = new List<byte>();
        server.MessageReceived += (UdpPeer p, in UdpMessage m) => got.Add(m.Data[0]);
        for (byte i = 1; i <= 5; i++)
        {
            toServer.Send([i]);
            sim.RunFor(TimeSpan.FromMilliseconds(300));
        }

        Assert.True(toAttacker() > 0, "the attacker's address was challenged");
        Assert.Equal(ClientAddress, toClient.RemoteEndPoint);
        Assert.True(moved.Count % 2 == 0, $"moves: {string.Join(", ", moved)}"); // every move there was undone
        Assert.Equal([1, 2, 3, 4, 5], got);
    }

    [Fact]
    public void A_session_that_moved_goes_back_at_once_when_newer_packets_come_from_the_address_it_left()
    {
        (Simulation sim, UdpHost server, UdpHost client, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(916);
        var moved = new List<IPEndPoint>();
        server.PeerAddressChanged += p => moved.Add(p.RemoteEndPoint);
        sim.Move(client, 7777);
        toServer.Send([1]);
        Assert.True(sim.RunUntil(() => moved.Count == 1, TimeSpan.FromSeconds(5)));

        // The NAT maps the client back: its old address was validated before, so no new challenge is needed.
        sim.Move(client, 2);
        long challengesBefore = toClient.GetStatistics().PacketsSent;
        toServer.Send([2]);
        Assert.True(sim.RunUntil(() => moved.Count == 2, TimeSpan.FromSeconds(5)));
        Assert.Equal([Simulation.At(7777), ClientAddress], moved);
        Assert.Equal(ClientAddress, toClient.RemoteEndPoint);
    }

    [Fact]
    public void A_path_response_from_an_address_other_than_the_one_challenged_does_not_move_the_session()
    {
        (Simulation sim, UdpHost server, _, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(917);
        var moved = new List<IPEndPoint>();
        server.PeerAddressChanged += p => moved.Add(p.RemoteEndPoint);
        var challenges = new List<byte[]>();
        sim.Network.Attach(Attacker, (from, bytes) => challenges.Add(bytes));

        // A copy of a genuine packet from the attacker's address: the server challenges that address.
        byte[] frames = new byte[64];
        var writer = new FrameWriter(frames);
        Assert.True(writer.TryWriteHeartbeat(0, 0));
        sim.Inject(Attacker, server, toServer.SealForTest(frames.AsSpan(0, writer.Written)));
        sim.RunFor(TimeSpan.FromMilliseconds(5));
        Assert.NotEmpty(challenges);

        // The token is inside the sealed challenge: the test reads it from the server's side.
        ulong token = toClient.PathTokenForTest;
        byte[] response = new byte[9];
        var responseWriter = new FrameWriter(response);
        Assert.True(responseWriter.TryWritePathFrame(FrameType.PathResponse, token));
        sim.Inject(Simulation.At(4444), server, toServer.SealForTest(response)); // the right answer, from a third address
        sim.RunFor(TimeSpan.FromMilliseconds(5));
        Assert.Empty(moved);
        Assert.Equal(ClientAddress, toClient.RemoteEndPoint);
        // (The answer from the address challenged moves it: A_port_change_moves_the_session_only_when_the_new_address_answers_the_challenge.)
    }

    [Fact]
    public void A_packet_refused_for_lack_of_room_and_replayed_from_elsewhere_is_dropped_as_a_replay()
    {
        // Review R6: a refused packet's number was never recorded, so copies from new addresses were processed again.
        (Simulation sim, UdpHost server, _, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(907, options: new UdpHostOptions { MaxReassemblyBytes = MiB, MaxMessageSize = MiB, ReceiveWindowBytes = 2 * MiB, MaxReassembliesPerPeer = 1 });
        ushort fragments = (MiB + 1023) / 1024;
        byte[] Fragment(uint id, uint sequence)
        {
            byte[] frames = new byte[MessageFrame.FragmentHeaderSize + 1024];
            Assert.True(new FrameWriter(frames).TryWriteMessage(new MessageFrame(0, DeliveryMode.ReliableUnordered, id, sequence, 0, fragments, new byte[1024], MiB)));
            return frames;
        }

        sim.Inject(ClientAddress, server, toServer.SealForTest(Fragment(1, 1)));
        sim.RunFor(TimeSpan.FromMilliseconds(5));
        byte[] refused = toServer.SealForTest(Fragment(2, 2)); // a second reassembly: no room
        sim.Inject(ClientAddress, server, refused);
        sim.RunFor(TimeSpan.FromMilliseconds(5));
        long dropped = toClient.GetStatistics().PacketsDropped;
        Assert.Equal(1, dropped);

        for (int i = 0; i < 5; i++)
        {
            sim.Inject(Simulation.At(4000 + i), server, refused);
        }

        sim.Inject(ClientAddress, server, refused); // and from the peer's own address it is a duplicate, not work
        sim.RunFor(TimeSpan.FromMilliseconds(5));
        Assert.Equal(5, server.GetDropCount(DropReason.Replayed));
        Assert.Equal(dropped, toClient.GetStatistics().PacketsDropped);
    }

    [Fact]
    public void A_cookie_seen_in_clear_cannot_open_other_sessions_from_the_victims_address()
    {
        // Review R7: 40 copies of an observed Connect with new session ids made 31 ghost sessions and the victim got AddressLimit.
        var sim = new Simulation(908);
        UdpHost server = sim.AddHost(1);
        UdpHost client = sim.AddHost(2);
        byte connectByte = (PacketCodec.Version << 4) | (byte)PacketType.Connect;
        byte[]? seen = null;
        sim.Network.Intercept = (from, to, bytes) =>
        {
            if (bytes[0] == connectByte && seen is null)
            {
                seen = bytes.ToArray();
            }

            return false;
        };
        SessionTests.Connect(sim, client, server);
        Assert.NotNull(seen);

        for (uint id = 1; id <= 40; id++)
        {
            byte[] forged = (byte[])seen!.Clone();
            BinaryPrimitives.WriteUInt32LittleEndian(forged.AsSpan(2), 0x5000_0000 + id);
            BinaryPrimitives.WriteUInt32LittleEndian(forged.AsSpan(PacketCodec.HeaderSize + CookieJar.Size), 0x5000_0000 + id);
            int end = forged.Length - PacketCodec.ChecksumSize;
            BinaryPrimitives.WriteUInt32LittleEndian(forged.AsSpan(end), Crc32C.Compute(forged.AsSpan(0, end)));
            sim.Inject(ClientAddress, server, forged);
        }

        sim.RunFor(TimeSpan.FromMilliseconds(10));
        Assert.Equal(1, server.PeerCount);
        Assert.Equal(40, server.GetDropCount(DropReason.BadHandshake));
        UdpPeer second = client.Connect(ServerAddress);
        sim.RunUntil(() => second.State != PeerState.Connecting, TimeSpan.FromSeconds(10));
        Assert.Equal(PeerState.Connected, second.State);
    }

    [Fact]
    public void A_connect_with_a_public_key_off_the_curve_is_dropped_before_any_key_is_generated()
    {
        var sim = new Simulation(918);
        UdpHost server = sim.AddHost(1);
        var answers = new List<byte[]>();
        sim.Network.Attach(Simulation.At(50), (from, bytes) => answers.Add(bytes));
        byte[] badKey = [0x04, .. Enumerable.Repeat((byte)7, 64)];
        byte[] hello = new byte[server.Options.MinPacketSize];
        byte[] helloBody = new byte[hello.Length - PacketCodec.Overhead];
        badKey.CopyTo(helloBody, 0);
        PacketCodec.Write(hello, new PacketHeader(PacketType.Hello, 9, 0), helloBody);
        sim.Inject(Simulation.At(50), server, hello);
        sim.RunFor(TimeSpan.FromMilliseconds(10));
        Assert.True(PacketCodec.TryRead(answers.Single(), 65507, out _, out ReadOnlySpan<byte> cookie, out _, out _));

        byte[] body = new byte[server.Options.MinPacketSize - PacketCodec.Overhead];
        cookie.CopyTo(body);
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(CookieJar.Size), 9);
        badKey.CopyTo(body, CookieJar.Size + 14);
        byte[] connect = new byte[server.Options.MinPacketSize];
        PacketCodec.Write(connect, new PacketHeader(PacketType.Connect, 9, 0), body);
        long keysBefore = server.KeyPairsGenerated;
        sim.Inject(Simulation.At(50), server, connect);
        sim.RunFor(TimeSpan.FromMilliseconds(10));
        Assert.Equal(0, server.PeerCount);
        Assert.Equal(1, server.GetDropCount(DropReason.BadHandshake));
        Assert.Equal(keysBefore, server.KeyPairsGenerated);
    }

    [Fact]
    public void Nack_frames_of_one_packet_look_at_no_more_packets_than_are_in_flight()
    {
        // Review R5: a 1199-byte packet of 167 Nacks of 65 535 packets each cost 13-15 ms under the host's lock.
        (Simulation sim, UdpHost server, _, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(906);
        sim.RunFor(TimeSpan.FromMilliseconds(100));
        int n = (1200 - PacketCodec.SessionOverhead) / 7;
        byte[] frames = new byte[n * 7];
        var writer = new FrameWriter(frames);
        for (int i = 0; i < n; i++)
        {
            Assert.True(writer.TryWriteNack(0x8000_0000 + (uint)i, ushort.MaxValue));
        }

        long before = toClient.NackLookups;
        sim.Inject(ClientAddress, server, toServer.SealForTest(frames));
        sim.RunFor(TimeSpan.FromMilliseconds(5));
        Assert.True(toClient.NackLookups - before <= 64, $"{toClient.NackLookups - before} packets looked up");
        Assert.Equal(PeerState.Connected, toClient.State);
    }
}
