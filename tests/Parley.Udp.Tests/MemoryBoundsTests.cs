using System.Buffers.Binary;
using System.Net;

namespace Parley.Udp.Tests;

/// <summary>
/// What a peer with a valid session can make the other side hold: reassembly memory, sessions
/// per source address, and what a session keeps after it ends. The figures are the ones issue 16
/// measured against `parley echo --transport udp`.
/// </summary>
public class MemoryBoundsTests
{
    private const int MiB = 1024 * 1024;

    // One fragment of a reliable message as its own frame (what an honest sender never sends alone for a 1 MiB message of 17-byte pieces).
    private static byte[] Fragment(byte channel, DeliveryMode mode, uint id, uint sequence, ushort fragment, ushort fragments, uint total, int length)
    {
        byte[] frames = new byte[MessageFrame.FragmentHeaderSize + length];
        var writer = new FrameWriter(frames);
        Assert.True(writer.TryWriteMessage(new MessageFrame(channel, mode, id, sequence, fragment, fragments, new byte[length], total)));
        return frames;
    }

    private static ushort FragmentsOf(uint total, int size) => (ushort)((total + size - 1) / size);

    [Fact]
    public void Three_hundred_datagrams_of_17_byte_fragments_of_1_MiB_messages_allocate_almost_nothing()
    {
        (Simulation sim, UdpHost server, _, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(60);
        long before = GC.GetAllocatedBytesForCurrentThread();
        long datagramBytes = 0;
        for (int i = 0; i < 300; i++)
        {
            byte[] frames = Fragment((byte)(i % 8), DeliveryMode.ReliableOrdered, 1_000 + (uint)i, 1 + (uint)(i / 8), 0, FragmentsOf(MiB, 17), MiB, 17);
            byte[] packet = toServer.SealForTest(frames);
            datagramBytes += packet.Length;
            sim.Inject(Simulation.At(2), server, packet);
        }

        sim.RunFor(TimeSpan.FromMilliseconds(10));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(datagramBytes < 300 * 100, $"{datagramBytes} bytes sent"); // 15.6 KB in issue 16 (version 2 had no tag)
        Assert.True(allocated < 8L * MiB, $"{datagramBytes} bytes of datagrams made the receiver allocate {allocated / MiB} MiB (issue 16: 319 MiB)");
        Assert.Equal(0, toClient.ReliableReassemblies);
        Assert.Equal(PeerState.Connected, toClient.State);
    }

    [Fact]
    public void First_fragments_of_many_1_MiB_messages_are_charged_in_full_against_the_receive_window()
    {
        (Simulation sim, UdpHost server, _, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(61);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 300; i++)
        {
            byte[] frames = Fragment((byte)(i % 8), DeliveryMode.ReliableUnordered, 2_000 + (uint)i, 1 + (uint)(i / 8), 0, FragmentsOf(MiB, 1024), MiB, 1024);
            sim.Inject(Simulation.At(2), server, toServer.SealForTest(frames));
        }

        sim.RunFor(TimeSpan.FromMilliseconds(10));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        int window = server.Options.ReceiveWindowBytes;
        Assert.True(allocated < window + (2L * MiB), $"300 first fragments made the receiver allocate {allocated / MiB} MiB (window {window / MiB} MiB)");
        Assert.Equal(window / MiB, toClient.ReliableReassemblies); // as many 1 MiB messages as the window holds, no more
        Assert.True(toClient.ReliableBufferedBytes <= window);
    }

    [Fact]
    public void Reliable_reassemblies_in_progress_are_capped_per_peer()
    {
        (Simulation sim, UdpHost server, _, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(62);
        int sent = 0;
        for (byte channel = 0; channel < server.Options.Channels; channel++)
        {
            foreach (DeliveryMode mode in new[] { DeliveryMode.ReliableOrdered, DeliveryMode.ReliableUnordered })
            {
                for (uint sequence = 1; sequence <= 100; sequence++)
                {
                    // Small fragmented messages (two 600-byte halves): the window alone would hold all 1600.
                    byte[] frames = Fragment(channel, mode, 10_000 + (uint)sent++, sequence, 0, 2, 1200, 600);
                    sim.Inject(Simulation.At(2), server, toServer.SealForTest(frames));
                }
            }
        }

        sim.RunFor(TimeSpan.FromMilliseconds(10));
        Assert.Equal(1600, sent);
        Assert.Equal(64, toClient.ReliableReassemblies);
    }

    [Fact]
    public void One_source_address_cannot_take_every_session_slot()
    {
        var sim = new Simulation(63);
        UdpHost server = sim.AddHost(1, new UdpHostOptions { MaxPeers = 50 });
        UdpHost attacker = sim.AddHost(new IPEndPoint(IPAddress.Parse("10.0.0.66"), 5000));
        var attempts = Enumerable.Range(0, 60).Select(_ => attacker.Connect(Simulation.At(1))).ToList();
        sim.RunUntil(() => attempts.All(p => p.State != PeerState.Connecting), TimeSpan.FromSeconds(10));
        int held = attempts.Count(p => p.State == PeerState.Connected);

        UdpHost client = sim.AddHost(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 5000));
        UdpPeer real = client.Connect(Simulation.At(1));
        Assert.True(sim.RunUntil(() => real.State != PeerState.Connecting, TimeSpan.FromSeconds(10)));
        Assert.Equal(PeerState.Connected, real.State); // issue 16: ServerFull
        Assert.Equal(server.Options.MaxPeersPerAddress, held);
        Assert.All(attempts.Where(p => p.State != PeerState.Connected), p => Assert.Equal(CloseReason.AddressLimit, p.CloseReason));
        Assert.Equal(60 - held, server.GetDropCount(DropReason.AddressLimit));

        // A slot given back is a slot the source may take again.
        attempts.First(p => p.State == PeerState.Connected).Disconnect();
        UdpPeer again = attacker.Connect(Simulation.At(1));
        Assert.True(sim.RunUntil(() => again.State == PeerState.Connected, TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public void The_hosts_reassembly_budget_is_shared_by_its_peers_and_a_message_waits_for_room_rather_than_being_lost()
    {
        var sim = new Simulation(65);
        UdpHost server = sim.AddHost(1, new UdpHostOptions { MaxReassemblyBytes = MiB });
        UdpHost hog = sim.AddHost(2);
        UdpHost other = sim.AddHost(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 2));
        (UdpPeer hogToServer, UdpPeer serverToHog) = SessionTests.Connect(sim, hog, server);
        (UdpPeer otherToServer, UdpPeer serverToOther) = SessionTests.Connect(sim, other, server);

        // Memory follows what arrived: the hog sends all but the last fragment of a 1 MiB message.
        ushort fragments = FragmentsOf(MiB, 1024);
        for (ushort f = 0; f < fragments - 1; f++)
        {
            sim.Inject(Simulation.At(2), server, hogToServer.SealForTest(Fragment(0, DeliveryMode.ReliableUnordered, 100, 1, f, fragments, MiB, 1024)));
        }

        sim.RunFor(TimeSpan.FromMilliseconds(10));
        Assert.Equal(1, serverToHog.ReliableReassemblies);
        Assert.Equal(MiB, server.ReassemblyBudget.UsedBytes); // 256 chunks of 4 KiB

        var got = new List<int>();
        server.MessageReceived += (UdpPeer p, in UdpMessage m) => got.Add(m.Data.Length);
        otherToServer.Send(new byte[100_000]);
        sim.RunFor(TimeSpan.FromSeconds(1));
        Assert.Empty(got); // no room for it while the hog holds the budget
        Assert.Equal(0, serverToOther.ReliableReassemblies);

        hogToServer.Disconnect(); // its session ends and gives its share back: the waiting message goes through
        Assert.True(sim.RunUntil(() => got.Count == 1, TimeSpan.FromSeconds(5)));
        Assert.Equal([100_000], got);
        Assert.Equal(0, server.ReassemblyBudget.UsedBytes);
    }

    // The last fragment of a message of `total` bytes cut in 256-byte pieces: 1 byte when total = 256k + 1.
    private static (ushort Fragment, ushort Fragments, int Length) LastPiece(uint total)
    {
        ushort fragments = (ushort)((total + 255) / 256);
        int size = MessageFrame.FragmentSize(total, fragments);
        return ((ushort)(fragments - 1), fragments, (int)(total - ((long)size * (fragments - 1))));
    }

    [Fact]
    public void One_byte_last_fragments_of_unreliable_1_MiB_messages_hold_little_and_expire_on_the_clock()
    {
        // Review R1: 300 datagrams of 52 bytes allocated 16 MiB, still held 60 s later.
        (Simulation sim, UdpHost server, _, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(901);
        const uint total = (4095 * 256) + 1;
        (ushort fragment, ushort fragments, int length) = LastPiece(total);
        Assert.Equal(1, length);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 300; i++)
        {
            sim.Inject(Simulation.At(2), server, toServer.SealForTest(Fragment(0, DeliveryMode.Unreliable, 5000 + (uint)i, 0, fragment, fragments, total, length)));
        }

        sim.RunFor(TimeSpan.FromMilliseconds(10));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < MiB, $"{allocated} bytes allocated for 300 datagrams of 52 bytes");
        Assert.True(server.ReassemblyBudget.UsedBytes <= server.Options.MaxIncompleteUnreliable * Reassembler.ChunkSize, $"{server.ReassemblyBudget.UsedBytes}");
        Assert.True(toClient.GetStatistics().BufferedReceiveBytes > 0);

        // Nothing more from the peer: the expiry runs on the host's clock, not on the peer's next message.
        sim.RunFor(server.Options.UnreliableFragmentExpiry + TimeSpan.FromSeconds(1));
        Assert.Equal(PeerState.Connected, toClient.State);
        Assert.Equal(0, server.ReassemblyBudget.UsedBytes);
        Assert.Equal(0, toClient.GetStatistics().BufferedReceiveBytes);
    }

    [Fact]
    public void One_byte_last_fragments_of_reliable_messages_cost_the_buffers_rented_not_rounded_up_declared_sizes()
    {
        // Review R1b: 512 KiB + 1 messages were charged 512 KiB each but rented 1 MiB (7.4 MB for 3.6 MB charged).
        (Simulation sim, UdpHost server, _, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(902);
        const uint total = (2048 * 256) + 1;
        (ushort fragment, ushort fragments, int length) = LastPiece(total);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 300; i++)
        {
            sim.Inject(Simulation.At(2), server, toServer.SealForTest(Fragment((byte)(i % 8), DeliveryMode.ReliableUnordered, 7000 + (uint)i, 1 + (uint)(i / 8), fragment, fragments, total, length)));
        }

        sim.RunFor(TimeSpan.FromMilliseconds(10));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < MiB, $"{allocated} bytes allocated");
        Assert.True(toClient.ReliableBufferedBytes <= server.Options.ReceiveWindowBytes); // the window still charges declared sizes
        Assert.Equal(toClient.ReliableReassemblies * 64, server.ReassemblyBudget.UsedBytes); // the budget: what was rented (a 1-byte last chunk, the store's smallest buffer)
    }

    [Fact]
    public void Sixteen_sessions_from_one_address_cannot_starve_another_addresss_fragmented_message()
    {
        // Review R2: 16 datagrams of 382 bytes took 255 of the 256 MiB budget; an honest 100 KB message timed out.
        var sim = new Simulation(903);
        UdpHost server = sim.AddHost(1);
        var hogAddress = new IPEndPoint(IPAddress.Parse("10.0.0.66"), 2);
        UdpHost hog = sim.AddHost(hogAddress);
        UdpHost other = sim.AddHost(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 2));
        var hogPeers = Enumerable.Range(0, 16).Select(_ => SessionTests.Connect(sim, hog, server).Client).ToList();
        (UdpPeer otherToServer, _) = SessionTests.Connect(sim, other, server);
        const uint total = (4095 * 256) + 1;
        (ushort fragment, ushort fragments, int length) = LastPiece(total);
        long before = GC.GetAllocatedBytesForCurrentThread();
        foreach (UdpPeer p in hogPeers)
        {
            byte[] frames = [.. Enumerable.Range(0, 16).SelectMany(i => Fragment(0, DeliveryMode.Unreliable, 100 + (uint)i, 0, fragment, fragments, total, length))];
            sim.Inject(hogAddress, server, p.SealForTest(frames));
        }

        sim.RunFor(TimeSpan.FromMilliseconds(10));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 4 * MiB, $"{allocated} bytes allocated for 16 datagrams");
        Assert.True(server.ReassemblyBudget.UsedBytes <= 16 * 16 * Reassembler.ChunkSize);

        var got = new List<int>();
        server.MessageReceived += (UdpPeer p, in UdpMessage m) => got.Add(m.Data.Length);
        otherToServer.Send(new byte[100_000]);
        Assert.True(sim.RunUntil(() => got.Count == 1 || otherToServer.State != PeerState.Connected, TimeSpan.FromSeconds(45)));
        Assert.Equal([100_000], got);
    }

    [Fact]
    public void Empty_ordered_messages_waiting_for_their_turn_are_charged_against_the_window()
    {
        // Review R3: 264 datagrams of empty ordered messages held 65 528 pooled buffers (10.7 MB) with nothing charged.
        (Simulation sim, UdpHost server, _, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(904);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (byte channel = 0; channel < server.Options.Channels; channel++)
        {
            // Sequences 1 .. 8191 (0 never comes): runs of 255 empty messages.
            for (uint seq = 1; seq < (uint)server.Options.MaxEnqueuedMessages; seq += 255)
            {
                int count = (int)Math.Min(255, server.Options.MaxEnqueuedMessages - seq);
                byte[] frames = new byte[FrameWriter.RunHeaderSize + (count * 2)];
                frames[0] = (byte)FrameType.MessageRun;
                frames[1] = channel;
                frames[2] = (byte)DeliveryMode.ReliableOrdered;
                BinaryPrimitives.WriteUInt32LittleEndian(frames.AsSpan(3), (1_000_000 * (uint)(channel + 1)) + seq);
                BinaryPrimitives.WriteUInt32LittleEndian(frames.AsSpan(7), seq);
                frames[11] = (byte)count;
                sim.Inject(Simulation.At(2), server, toServer.SealForTest(frames));
            }
        }

        sim.RunFor(TimeSpan.FromMilliseconds(50));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        long window = server.Options.ReceiveWindowBytes;
        Assert.InRange(toClient.ReliableBufferedBytes, window / 2, window);
        Assert.True(server.Buffers.Outstanding <= window / 160, $"{server.Buffers.Outstanding} buffers held");
        Assert.True(allocated < window + MiB, $"{allocated} bytes allocated");
        Assert.Equal(PeerState.Connected, toClient.State);
    }

    [Fact]
    public void Ended_sessions_give_every_buffer_back_keep_nothing_and_cost_little_while_they_last()
    {
        var sim = new Simulation(64);
        var options = new UdpHostOptions { HeartbeatTimeout = TimeSpan.FromSeconds(2) };
        UdpHost server = sim.AddHost(1, options);
        UdpHost client = sim.AddHost(2, options);
        var ended = new List<UdpPeer>();
        server.PeerDisconnected += ended.Add;
        const int sessions = 20;
        long before = GC.GetAllocatedBytesForCurrentThread();
        var peers = Enumerable.Range(0, sessions).Select(_ => client.Connect(Simulation.At(1))).ToList();
        Assert.True(sim.RunUntil(() => peers.All(p => p.State == PeerState.Connected), TimeSpan.FromSeconds(10)));
        long perSession = (GC.GetAllocatedBytesForCurrentThread() - before) / sessions;

        // Fragmented messages in every mode under loss, and the client vanishes mid-stream: the
        // server holds partial reassemblies and out-of-order messages when its sessions time out.
        sim.Network.Conditions = new NetworkConditions { Loss = 0.2, Delay = TimeSpan.FromMilliseconds(5) };
        foreach (UdpPeer peer in peers)
        {
            for (int i = 0; i < 6; i++)
            {
                peer.Send(SessionTests.Payload(i, 5000), (DeliveryMode)(i % 3));
            }
        }

        sim.RunFor(TimeSpan.FromMilliseconds(12));
        Assert.True(server.ReassemblyBudget.UsedBytes > 0, "the server is in the middle of reassemblies");
        Assert.True(server.Buffers.Outstanding > 0);
        sim.Silence(client);
        Assert.True(sim.RunUntil(() => ended.Count == sessions, TimeSpan.FromSeconds(10)));

        Assert.Equal(0, server.Buffers.Outstanding); // every pooled buffer came back
        Assert.Equal(0, server.ReassemblyBudget.UsedBytes);
        long retained = ended.Sum(p => p.RetainedBytes);
        Assert.True(retained <= sessions * 256, $"{sessions} ended sessions still hold {retained} bytes"); // issue 16: RSS stayed at 465 MB after 8845 sessions expired
        Assert.True(perSession < 48 * 1024, $"a session costs {perSession} bytes of allocations on both sides (issue 16: ~44 KB on the server alone)");
    }
}
