using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;

namespace Parley.Udp.Tests;

/// <summary>The real path: sockets on 127.0.0.1:0, the host's threads, the system clock. Waits are bounded; nothing is timed.</summary>
public class LoopbackTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    // Segmentation offload (Linux: runs of datagrams per system call) on both sides, neither, and
    // one only: a host that sends runs talks to one that receives datagrams one by one, and back.
    [Theory]
    [InlineData(true, true)]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public async Task An_echo_over_loopback_returns_every_message_in_order_with_all_confirmations(bool clientOffload, bool serverOffload)
    {
        await using UdpHost server = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0), new UdpHostOptions { SegmentationOffload = serverOffload });
        server.MessageReceived += (UdpPeer peer, in UdpMessage m) => peer.Send(m.Data, m.Mode, m.Channel);
        await using UdpHost client = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0), new UdpHostOptions { SegmentationOffload = clientOffload });
        var echoed = new ConcurrentQueue<int>();
        client.MessageReceived += (UdpPeer p, in UdpMessage m) => echoed.Enqueue(BinaryPrimitives.ReadInt32LittleEndian(m.Data));
        var delivered = 0;
        client.MessageStateChanged += (p, id, state) =>
        {
            if (state == MessageState.Delivered)
            {
                Interlocked.Increment(ref delivered);
            }
        };

        UdpPeer peer = await client.ConnectAsync(server.LocalEndPoint).WaitAsync(Limit);
        Assert.Equal(PeerState.Connected, peer.State);
        const int count = 20_000;
        for (int i = 0; i < count; i++)
        {
            while (peer.Send(SessionTests.Payload(i, i % 100 == 0 ? 5000 : 64)).Status == SendStatus.QueueFull)
            {
                await Task.Delay(1);
            }
        }

        await Waits.UntilAsync(() => echoed.Count == count && Volatile.Read(ref delivered) == count, "the echoes");
        Assert.Equal(Enumerable.Range(0, count), echoed);
        UdpStatistics stats = peer.GetStatistics();
        Assert.True(stats.PacketSize > server.Options.MinPacketSize, "MTU probing raised the packet size on loopback");
        Assert.Equal(count, stats.MessagesReceived);
    }

    [Fact]
    public async Task Loss_delay_and_reordering_injected_at_the_socket_still_deliver_everything_once_in_order()
    {
        var conditions = new NetworkConditions { Loss = 0.05, Delay = TimeSpan.FromMilliseconds(5), Jitter = TimeSpan.FromMilliseconds(2), Reorder = 0.02, Duplication = 0.02 };
        await using UdpHost server = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0), new UdpHostOptions { SimulatedConditions = conditions, SimulationSeed = 1 });
        await using UdpHost client = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0), new UdpHostOptions { SimulatedConditions = conditions, SimulationSeed = 2 });
        var got = new ConcurrentQueue<int>();
        server.MessageReceived += (UdpPeer p, in UdpMessage m) => got.Enqueue(BinaryPrimitives.ReadInt32LittleEndian(m.Data));
        UdpPeer peer = await client.ConnectAsync(server.LocalEndPoint).WaitAsync(Limit);
        for (int i = 0; i < 3000; i++)
        {
            while (peer.Send(SessionTests.Payload(i, 200)).Status == SendStatus.QueueFull)
            {
                await Task.Delay(1);
            }
        }

        await Waits.UntilAsync(() => got.Count == 3000 && peer.GetStatistics().PendingMessages == 0, "delivery under loss");
        Assert.Equal(Enumerable.Range(0, 3000), got);
        Assert.True(peer.GetStatistics().Retransmissions > 0);
    }

    [Fact]
    public async Task Connecting_to_a_port_where_nobody_listens_fails_with_connect_failed()
    {
        var options = new UdpHostOptions { ConnectTimeout = TimeSpan.FromMilliseconds(500) };
        await using UdpHost client = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0), options);
        using var probe = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0)); // a port that is bound but never answers
        var error = await Assert.ThrowsAsync<UdpConnectException>(() => client.ConnectAsync((IPEndPoint)probe.LocalEndPoint!).WaitAsync(Limit));
        Assert.Equal(CloseReason.ConnectFailed, error.Reason);
    }

    [Fact]
    public async Task Disposing_a_host_closes_its_sessions_on_the_other_side()
    {
        UdpHost server = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0));
        await using UdpHost client = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0));
        UdpPeer peer = await client.ConnectAsync(server.LocalEndPoint).WaitAsync(Limit);
        await server.DisposeAsync();
        await Waits.UntilAsync(() => peer.State == PeerState.Disconnected, "the close");
        Assert.Equal(CloseReason.RemoteClose, peer.CloseReason);
    }
}
