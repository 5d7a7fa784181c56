using System.Net;
using BenchmarkDotNet.Attributes;
using Parley.Udp;

namespace Parley.Benchmarks;

/// <summary>
/// The reliable-UDP protocol's own CPU per message, without sockets or threads: a client and a
/// server host wired in memory on the system clock, driven from one thread. Each operation pushes
/// 100 000 messages through enqueue, packet building, checksums, parsing, in-order delivery,
/// acknowledgement and the delivered confirmation (a full queue is drained by pumping, as the
/// hosts' threads would; the events are raised on this thread outside the lock, where a host
/// with threads raises them on the thread pool). `parley bench udp` measures the same path with the kernel and threads.
/// </summary>
[MemoryDiagnoser]
public class UdpProtocolBenchmarks
{
    private const int Messages = 100_000;
    private static readonly IPEndPoint ClientAt = new(IPAddress.Loopback, 1000);
    private static readonly IPEndPoint ServerAt = new(IPAddress.Loopback, 2000);
    private readonly byte[] _payload = new byte[64];
    private readonly Wire _toServer = new(ClientAt);
    private readonly Wire _toClient = new(ServerAt);
    private UdpHost _client = null!;
    private UdpHost _server = null!;
    private UdpPeer _peer = null!;
    private long _delivered;
    private long _confirmed;

    [Params(DeliveryMode.ReliableOrdered, DeliveryMode.Unreliable)]
    public DeliveryMode Mode { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var options = new UdpHostOptions { MaxPendingMessages = 8192, MaxEnqueuedMessages = 8192, ReceiveWindowBytes = 8 << 20 };
        _client = new UdpHost(options, TimeProvider.System, ClientAt.Serialize());
        _server = new UdpHost(options, TimeProvider.System, ServerAt.Serialize());
        _server.MessageReceived += (UdpPeer peer, in UdpMessage message) => _delivered++;
        _client.MessageStateChanged += (peer, id, state) => _confirmed += state == MessageState.Delivered ? 1 : 0;
        _peer = _client.Connect(ServerAt);
        for (int i = 0; i < 100 && _peer.State != PeerState.Connected; i++)
        {
            Pump();
            Thread.Sleep(1);
        }

        if (_peer.State != PeerState.Connected)
        {
            throw new InvalidOperationException("the in-memory hosts did not connect");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _client.Dispose();
        _server.Dispose();
    }

    [Benchmark(OperationsPerInvoke = Messages)]
    public long Stream64()
    {
        int sent = 0;
        while (sent < Messages)
        {
            while (sent < Messages && _peer.Send(_payload, Mode).IsQueued)
            {
                sent++;
            }

            Pump();
        }

        return _delivered + _confirmed;
    }

    // Both hosts poll and exchange datagrams until neither has anything more to send right now.
    private void Pump()
    {
        for (int round = 0; round < 1000; round++)
        {
            lock (_client.Gate)
            {
                _client.Poll();
                _client.DrainTo(_toServer);
            }

            bool any = _toServer.DeliverTo(_server);
            _server.DispatchEvents(); // the handlers, outside the lock, as the host's threads would run them
            lock (_server.Gate)
            {
                _server.Poll();
                _server.DrainTo(_toClient);
            }

            any |= _toClient.DeliverTo(_client);
            _client.DispatchEvents();
            if (!any)
            {
                return;
            }
        }
    }

    /// <summary>One direction of the in-memory wire: datagrams from one address in reused buffers, delivered in order.</summary>
    private sealed class Wire(IPEndPoint from) : IDatagramTransport
    {
        private readonly List<(byte[] Buffer, int Length)> _queued = [];
        private readonly Stack<byte[]> _spare = new();
        private readonly System.Net.SocketAddress _from = from.Serialize();

        public void Send(System.Net.SocketAddress to, ReadOnlySpan<byte> datagram)
        {
            byte[] buffer = _spare.Count > 0 ? _spare.Pop() : new byte[65536];
            datagram.CopyTo(buffer);
            _queued.Add((buffer, datagram.Length));
        }

        public bool DeliverTo(UdpHost host)
        {
            if (_queued.Count == 0)
            {
                return false;
            }

            lock (host.Gate)
            {
                foreach ((byte[] buffer, int length) in _queued)
                {
                    host.Receive(_from, buffer.AsSpan(0, length));
                    _spare.Push(buffer);
                }
            }

            _queued.Clear();
            return true;
        }
    }
}
