using System.Net;

namespace Parley.Udp.Tests;

/// <summary>Whatever arrives from the network is dropped and counted, never thrown, and never creates state.</summary>
public class BadInputTests
{
    [Fact]
    public void Random_datagrams_of_every_length_are_dropped_and_counted_and_the_session_goes_on()
    {
        (Simulation sim, UdpHost server, UdpHost client, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(30);
        var random = new Random(30);
        int max = server.Options.MaxPacketSize + 10;
        for (int length = 0; length <= max; length++)
        {
            byte[] junk = new byte[length];
            random.NextBytes(junk);
            sim.Inject(Simulation.At(2), server, junk);                 // from the peer's own address
            sim.Inject(Simulation.At(3000 + (length % 50)), server, junk); // and from strangers
        }

        // Packets with a valid checksum and garbage frames: sealed by the peer itself (a buggy or
        // hostile client with a real session), unsealed for the live session (forged), and for no session.
        for (int length = 1; length < 200; length++)
        {
            byte[] payload = new byte[length];
            random.NextBytes(payload);
            payload[0] = (byte)random.Next(1, 8); // a real frame type, then nonsense (not Close: from the peer itself, that would be honoured)
            sim.Inject(Simulation.At(2), server, toServer.SealForTest(payload));
            byte[] packet = new byte[PacketCodec.Overhead + length];
            PacketCodec.Write(packet, new PacketHeader(PacketType.Data, toClient.LocalSessionId, (uint)(1_000_000 + length)), payload);
            sim.Inject(Simulation.At(2), server, packet);
            PacketCodec.Write(packet, new PacketHeader(PacketType.Data, 12345, 1), payload);
            sim.Inject(Simulation.At(2), server, packet);
        }

        sim.RunFor(TimeSpan.FromMilliseconds(100));
        UdpStatistics stats = server.GetStatistics();
        Assert.True(stats.PacketsDropped >= 2 * max, $"{stats.PacketsDropped} {string.Join(",", Enum.GetValues<DropReason>().Select(r => $"{r}={server.GetDropCount(r)}"))} {sim.Network.Delivered}");
        Assert.True(server.GetDropCount(DropReason.UnknownVersion) > max); // 15 in 16 random first bytes
        Assert.True(server.GetDropCount(DropReason.BadChecksum) > 0);
        Assert.True(server.GetDropCount(DropReason.TooShort) > 0);
        Assert.True(server.GetDropCount(DropReason.TooLong) > 0);
        Assert.True(server.GetDropCount(DropReason.UnknownSession) > 0);
        Assert.True(server.GetDropCount(DropReason.MalformedFrames) > 0);
        Assert.Equal(199, server.GetDropCount(DropReason.AuthenticationFailed));
        Assert.Equal(1, server.PeerCount);

        var got = 0;
        server.MessageReceived += (UdpPeer p, in UdpMessage m) => got++;
        toServer.Send([1, 2, 3]);
        Assert.True(sim.RunUntil(() => got == 1, TimeSpan.FromSeconds(2)));
    }

    [Fact]
    public void A_hello_smaller_than_the_minimum_gets_no_answer_and_the_answer_to_a_full_one_is_smaller()
    {
        var sim = new Simulation(31);
        UdpHost server = sim.AddHost(1);
        var answers = new List<byte[]>();
        sim.Network.Attach(Simulation.At(50), (from, bytes) => answers.Add(bytes));

        byte[] small = new byte[100];
        PacketCodec.Write(small, new PacketHeader(PacketType.Hello, 7, 0), new byte[100 - PacketCodec.Overhead]);
        sim.Inject(Simulation.At(50), server, small);
        sim.RunFor(TimeSpan.FromMilliseconds(10));
        Assert.Empty(answers);
        Assert.Equal(1, server.GetDropCount(DropReason.BadHandshake));

        byte[] hello = new byte[server.Options.MinPacketSize];
        PacketCodec.Write(hello, new PacketHeader(PacketType.Hello, 7, 0), new byte[hello.Length - PacketCodec.Overhead]);
        sim.Inject(Simulation.At(50), server, hello);
        sim.RunFor(TimeSpan.FromMilliseconds(10));
        byte[] cookie = Assert.Single(answers);
        Assert.True(cookie.Length < hello.Length / 10, $"{cookie.Length} bytes answered to {hello.Length}");
        Assert.Equal(0, server.PeerCount); // stateless until the cookie comes back
    }

    [Fact]
    public void A_connect_with_a_forged_or_borrowed_cookie_creates_no_session()
    {
        var sim = new Simulation(32);
        UdpHost server = sim.AddHost(1);
        var answers = new List<(IPEndPoint From, byte[] Bytes)>();
        sim.Network.Attach(Simulation.At(50), (from, bytes) => answers.Add((from, bytes)));

        // Get a real cookie for 127.0.0.1:50, session 7 and this key (the Hello carries the key).
        using System.Security.Cryptography.ECDiffieHellman key = PacketProtection.CreateKey();
        byte[] hello = new byte[server.Options.MinPacketSize];
        byte[] helloBody = new byte[hello.Length - PacketCodec.Overhead];
        PacketProtection.WritePublicKey(key, helloBody);
        PacketCodec.Write(hello, new PacketHeader(PacketType.Hello, 7, 0), helloBody);
        sim.Inject(Simulation.At(50), server, hello);
        sim.RunFor(TimeSpan.FromMilliseconds(10));
        Assert.True(PacketCodec.TryRead(answers.Single().Bytes, 65507, out PacketHeader header, out ReadOnlySpan<byte> cookie, out _, out _));
        Assert.Equal(PacketType.Cookie, header.Type);
        byte[] goodCookie = cookie.ToArray();

        byte[] Connect(byte[] withCookie)
        {
            byte[] body = new byte[server.Options.MinPacketSize - PacketCodec.Overhead];
            withCookie.CopyTo(body, 0);
            BitConverter.TryWriteBytes(body.AsSpan(CookieJar.Size), 7u);
            PacketProtection.WritePublicKey(key, body.AsSpan(CookieJar.Size + 14));
            byte[] packet = new byte[server.Options.MinPacketSize];
            PacketCodec.Write(packet, new PacketHeader(PacketType.Connect, 7, 0), body);
            return packet;
        }

        byte[] forged = (byte[])goodCookie.Clone();
        forged[10] ^= 1;
        sim.Inject(Simulation.At(50), server, Connect(forged));           // tampered
        sim.Inject(Simulation.At(51), server, Connect(goodCookie));       // someone else's (spoofed source)
        sim.Inject(Simulation.At(50), server, Connect(new byte[CookieJar.Size]));
        sim.RunFor(TimeSpan.FromMilliseconds(10));
        Assert.Equal(0, server.PeerCount);
        Assert.Equal(3, server.GetDropCount(DropReason.BadHandshake));

        sim.Inject(Simulation.At(50), server, Connect(goodCookie));       // the real one works
        sim.RunFor(TimeSpan.FromMilliseconds(10));
        Assert.Equal(1, server.PeerCount);
        sim.Inject(Simulation.At(50), server, Connect(goodCookie));       // a repeat answers again, no second session
        sim.RunFor(TimeSpan.FromMilliseconds(10));
        Assert.Equal(1, server.PeerCount);
        var accepts = answers.Where(a => a.Bytes[0] == ((PacketCodec.Version << 4) | (byte)PacketType.Accept)).ToList();
        Assert.Equal(2, accepts.Count);
        Assert.Equal(accepts[0].Bytes, accepts[1].Bytes); // the same Accept again, not a second key exchange
        Assert.All(accepts, a => Assert.True(a.Bytes.Length < server.Options.MinPacketSize / 10, $"a {a.Bytes.Length}-byte Accept answers a {server.Options.MinPacketSize}-byte Connect"));
    }

    [Fact]
    public void Corrupted_datagrams_are_counted_as_bad_checksums_and_everything_still_arrives()
    {
        (Simulation sim, UdpHost server, UdpHost client, UdpPeer toServer, _) = SessionTests.Connected(33, new NetworkConditions { Corruption = 0.3 });
        var got = 0;
        server.MessageReceived += (UdpPeer p, in UdpMessage m) => got++;
        for (int i = 0; i < 300; i++)
        {
            toServer.Send(SessionTests.Payload(i, 500));
        }

        Assert.True(sim.RunUntil(() => got == 300 && toServer.GetStatistics().PendingMessages == 0, TimeSpan.FromSeconds(30)));
        sim.RunUntil(() => sim.Network.InFlight == 0, TimeSpan.FromSeconds(5));
        Assert.True(server.GetStatistics().BadChecksums > 10);
        Assert.Equal(sim.Network.Corrupted, server.GetStatistics().BadChecksums + client.GetStatistics().BadChecksums);
    }

    [Theory]
    [InlineData(long.MaxValue)]
    [InlineData(long.MinValue)]
    [InlineData(-1L)]
    public void A_heartbeat_echo_with_an_absurd_timestamp_is_ignored_not_thrown(long echo)
    {
        (Simulation sim, UdpHost server, UdpHost client, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(34);
        byte[] frames = new byte[17];
        var writer = new FrameWriter(frames);
        Assert.True(writer.TryWriteHeartbeat(12345, echo));
        sim.Inject(Simulation.At(2), server, toServer.SealForTest(frames)); // the peer itself sends it: authenticated, still ignored
        sim.RunFor(TimeSpan.FromMilliseconds(10));
        Assert.Equal(PeerState.Connected, toClient.State);
        Assert.InRange(toClient.SmoothedRtt, TimeSpan.Zero, TimeSpan.FromSeconds(1)); // not poisoned by the forged echo
        var got = 0;
        server.MessageReceived += (UdpPeer p, in UdpMessage m) => got++;
        toServer.Send([1]);
        Assert.True(sim.RunUntil(() => got == 1, TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public void A_delivered_frame_of_long_runs_confirms_exactly_the_pending_messages_it_names()
    {
        (Simulation sim, UdpHost server, UdpHost client, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(35);
        sim.Network.Conditions = new NetworkConditions { Loss = 1.0 }; // nothing arrives: every message stays Sent
        uint[] ids = [.. Enumerable.Range(0, 100).Select(i => toServer.Send([(byte)i]).MessageId)];
        sim.RunFor(TimeSpan.FromMilliseconds(5));
        Assert.All(ids, id => Assert.Equal(MessageState.Sent, toServer.GetMessageState(id)));

        // The first 40 by an exact run; the next 20 by a run that starts far below them (walked by
        // slot, not by id); then 198 forged runs of 65 536 ids each that name nothing pending.
        var runs = new DeliveredRun[200];
        runs[0] = new DeliveredRun(ids[0], 40);
        runs[1] = new DeliveredRun(ids[40] - 30_000, 30_020);
        for (int i = 2; i < runs.Length; i++)
        {
            runs[i] = new DeliveredRun(ids[^1] + 1 + (uint)(i * DeliveredRun.MaxCount), DeliveredRun.MaxCount);
        }

        int size = 2 + (runs.Length * DeliveredRun.EncodedSize);
        byte[] frames = new byte[size];
        var writer = new FrameWriter(frames);
        Assert.True(writer.TryWriteDelivered(runs));
        sim.Network.Conditions = NetworkConditions.Perfect;
        sim.Inject(Simulation.At(1), client, toClient.SealForTest(frames)); // sealed by the server's side of the session
        sim.RunFor(TimeSpan.FromMicroseconds(100)); // the datagram arrives; no retransmission is due yet

        Assert.All(ids[..60], id => Assert.Equal(MessageState.Delivered, toServer.GetMessageState(id)));
        Assert.All(ids[60..], id => Assert.Equal(MessageState.Sent, toServer.GetMessageState(id)));
        Assert.Equal(40, toServer.GetStatistics().PendingMessages);
    }
}
