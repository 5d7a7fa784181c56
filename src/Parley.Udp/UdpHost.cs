using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Parley.Udp;

/// <summary>
/// One UDP endpoint that accepts sessions and opens them (like ENet's host or LiteNetLib's
/// manager): reliable and unreliable messages on channels, with acknowledgements,
/// retransmission, received/delivered confirmations, fragmentation, flow and congestion control.
/// <see cref="Start"/> binds a socket and runs two threads (receive; timers and sending) that
/// hold the host's lock only while they work on the protocol. Every public member is thread-safe.
/// <para>
/// Events (<see cref="MessageReceived"/>, <see cref="MessageStateChanged"/>,
/// <see cref="PeerConnected"/>, <see cref="PeerDisconnected"/>, <see cref="PeerAddressChanged"/>)
/// are queued per peer and raised on the thread pool, never with the host's lock held: the
/// handlers of one peer run one at a time, in the order the protocol produced the events; the
/// handlers of different peers may run at the same time. A handler may call any member (e.g.
/// <see cref="UdpPeer.Send"/>). A handler that is slow or blocks holds up only its own peer's
/// events: the protocol work of every peer (acknowledgements, retransmissions, heartbeats)
/// goes on. Its peer's queue is bounded — reliable messages by the receive window (past it the
/// host stops acknowledging that peer's new data, so the sender holds it; nothing acknowledged
/// is dropped), unreliable ones by one window's worth (past it they are dropped and counted in
/// <see cref="UdpStatistics.UnreliableMessagesDropped"/>), message states by
/// <see cref="UdpHostOptions.MaxPendingMessages"/> (a final state not yet raised holds its slot,
/// so <see cref="UdpPeer.Send"/> says <see cref="SendStatus.QueueFull"/>). A reliable message
/// becomes <see cref="MessageState.Delivered"/> at its sender when the handler has returned.
/// </para>
/// </summary>
public sealed partial class UdpHost : IAsyncDisposable, IDisposable
{
    private readonly TimeProvider _time;
    private readonly long _startTimestamp;
    private readonly double _microsPerTick;
    private readonly ILogger _logger;
    private readonly CookieJar _cookies;
    private readonly Dictionary<uint, UdpPeer> _sessions = [];
    private readonly Dictionary<(SocketAddress Address, uint RemoteId), UdpPeer> _byRemote = [];
    private readonly HashSet<IPAddress> _blacklist = [];
    private readonly Dictionary<IPEndPoint, PinnedPeer> _pinned = [];
    private readonly Dictionary<UdpPeer, TaskCompletionSource<UdpPeer>> _connectWaiters = [];
    private readonly Queue<PeerChange> _changes = new();
    private readonly long[] _drops = new long[Enum.GetValues<DropReason>().Length];
    private readonly Parley.Internal.AddressCounter _perAddress = new();
    private readonly byte[] _plaintext; // a session packet's frames, decrypted (valid while it is handled)
    private UdpStatistics _endedTotals = new();
    private SocketDriver? _driver;
    private bool _disposed;

    private sealed class PinnedPeer
    {
        public UdpPeer? Current;
        public long ReconnectAt = long.MaxValue;
    }

    internal UdpHost(UdpHostOptions options, TimeProvider time, SocketAddress localAddress)
    {
        options.Validate();
        Options = options;
        _time = time;
        _startTimestamp = time.GetTimestamp();
        _microsPerTick = 1_000_000.0 / time.TimestampFrequency;
        _logger = options.LoggerFactory.CreateLogger("Parley.Udp.UdpHost");
        _cookies = new CookieJar(time, options.CookieLifetime);
        PacketBuffer = new byte[Math.Max(options.MinPacketSize, PacketCodec.Overhead + 64)];
        _plaintext = GC.AllocateUninitializedArray<byte>(options.MaxPacketSize);
        ReassemblyBudget = new ReassemblyBudget(options.MaxReassemblyBytes, options.MaxReassemblyBytesPerAddress);
        LocalAddress = localAddress;
        LocalEndPoint = (IPEndPoint)new IPEndPoint(IPAddress.Any, 0).Create(localAddress);
        UdpMetrics.Register(this);
    }

    /// <summary>Binds a UDP socket to <paramref name="localEndPoint"/> (port 0 picks one) and starts the host's threads.</summary>
    /// <remarks>The clock and logging come from <paramref name="options"/> (<see cref="UdpHostOptions.TimeProvider"/>, <see cref="UdpHostOptions.LoggerFactory"/>).</remarks>
    public static UdpHost Start(IPEndPoint localEndPoint, UdpHostOptions? options = null)
    {
        options ??= new UdpHostOptions();
        options.Validate();
        var socket = new Socket(localEndPoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.ReceiveBufferSize = options.SocketBufferSize;
            socket.SendBufferSize = options.SocketBufferSize;
            socket.Bind(localEndPoint);
            var host = new UdpHost(options, options.TimeProvider, ((IPEndPoint)socket.LocalEndPoint!).Serialize());
            host._driver = new SocketDriver(host, socket, options.SimulatedConditions, options.SimulationSeed, host._logger);
            Log.Listening(host._logger, host.LocalEndPoint);
            host._driver.Start();
            return host;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The options in force.</summary>
    public UdpHostOptions Options { get; }

    /// <summary>The bound address.</summary>
    public IPEndPoint LocalEndPoint { get; }

    internal SocketAddress LocalAddress { get; }

    internal Lock Gate { get; } = new();

    /// <summary>Scratch space for handshake and close packets (at most the minimum packet size).</summary>
    internal byte[] PacketBuffer { get; }

    /// <summary>Payload and datagram buffers (used under <see cref="Gate"/>); idle ones capped at 32 MiB.</summary>
    internal BufferStore Buffers { get; } = new(32L * 1024 * 1024);

    /// <summary>Bytes all this host's reassemblies may hold at once (<see cref="UdpHostOptions.MaxReassemblyBytes"/>).</summary>
    internal ReassemblyBudget ReassemblyBudget { get; }

    internal long NowMicros => 1_000_000 + (long)((_time.GetTimestamp() - _startTimestamp) * _microsPerTick);

    /// <summary>A session came up (either direction).</summary>
    public event UdpPeerHandler? PeerConnected;

    /// <summary>A session ended; <see cref="UdpPeer.CloseReason"/> says why.</summary>
    public event UdpPeerHandler? PeerDisconnected;

    /// <summary>A peer's packets now come from another address or port (its session carried over).</summary>
    public event UdpPeerHandler? PeerAddressChanged;

    /// <summary>
    /// A message arrived (reliable ordered ones in order per channel). Raised outside the host's
    /// lock, one at a time per peer; <see cref="UdpMessage.Data"/> is valid until the handler returns.
    /// </summary>
    public event UdpMessageHandler? MessageReceived;

    /// <summary>A message this host sent changed state (sent, received, delivered, timed out, cancelled).</summary>
    public event UdpMessageStateHandler? MessageStateChanged;

    /// <summary>Starts a session with <paramref name="remote"/>; the peer is <see cref="PeerState.Connecting"/> until the handshake completes.</summary>
    public UdpPeer Connect(IPEndPoint remote)
    {
        UdpPeer peer;
        lock (Gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            peer = StartHandshake(remote.Serialize());
        }

        WakeSender();
        return peer;
    }

    /// <summary>Connects and waits for the session to come up; throws <see cref="UdpConnectException"/> when it does not.</summary>
    public async Task<UdpPeer> ConnectAsync(IPEndPoint remote, CancellationToken cancellationToken = default)
    {
        var completion = new TaskCompletionSource<UdpPeer>(TaskCreationOptions.RunContinuationsAsynchronously);
        UdpPeer peer;
        lock (Gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            peer = StartHandshake(remote.Serialize());
            _connectWaiters[peer] = completion;
        }

        WakeSender();
        using (cancellationToken.Register(() => completion.TrySetCanceled(cancellationToken)))
        {
            try
            {
                return await completion.Task.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                peer.Disconnect();
                throw;
            }
        }
    }

    /// <summary>Drops every datagram from <paramref name="address"/> before any processing, and ends its sessions.</summary>
    public void Blacklist(IPAddress address)
    {
        lock (Gate)
        {
            _blacklist.Add(address);
            foreach (UdpPeer peer in _sessions.Values.ToArray())
            {
                if (peer.RemoteEndPoint.Address.Equals(address))
                {
                    EndSession(peer, CloseReason.LocalClose);
                }
            }
        }
    }

    /// <summary>Takes <paramref name="address"/> off the blacklist.</summary>
    public bool Unblacklist(IPAddress address)
    {
        lock (Gate)
        {
            return _blacklist.Remove(address);
        }
    }

    /// <summary>
    /// Keeps a session with <paramref name="remote"/> up: connects now, and whenever the session
    /// ends (timeout, refusal, the peer leaving) connects again after
    /// <see cref="UdpHostOptions.PinnedReconnectDelay"/>. Each session is a new <see cref="UdpPeer"/>.
    /// Returns the current one.
    /// </summary>
    public UdpPeer Pin(IPEndPoint remote)
    {
        lock (Gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_pinned.TryGetValue(remote, out PinnedPeer? pinned))
            {
                pinned = new PinnedPeer();
                _pinned[remote] = pinned;
            }

            if (pinned.Current is null || pinned.Current.State == PeerState.Disconnected)
            {
                pinned.Current = StartHandshake(remote.Serialize());
                pinned.Current.IsPinned = true;
            }

            WakeSender();
            return pinned.Current;
        }
    }

    /// <summary>Stops reconnecting <paramref name="remote"/> (a live session stays up).</summary>
    public bool Unpin(IPEndPoint remote)
    {
        lock (Gate)
        {
            if (!_pinned.Remove(remote, out PinnedPeer? pinned))
            {
                return false;
            }

            if (pinned.Current is not null)
            {
                pinned.Current.IsPinned = false;
            }

            return true;
        }
    }

    /// <summary>The peers matching <paramref name="query"/> now.</summary>
    public IReadOnlyList<UdpPeer> GetPeers(PeerQuery query = PeerQuery.Connected)
    {
        lock (Gate)
        {
            long now = NowMicros;
            var list = new List<UdpPeer>();
            foreach (UdpPeer peer in _sessions.Values)
            {
                if (query == PeerQuery.Known || (peer.State == PeerState.Connected && (query == PeerQuery.Connected || peer.IsActiveAt(now))))
                {
                    list.Add(peer);
                }
            }

            if (query == PeerQuery.Known)
            {
                foreach (PinnedPeer pinned in _pinned.Values)
                {
                    if (pinned.Current is { State: PeerState.Disconnected } between)
                    {
                        list.Add(between);
                    }
                }
            }

            return list;
        }
    }

    /// <summary>Peer state changes since the last call (at most <see cref="UdpHostOptions.MaxPeerChanges"/>, oldest dropped first).</summary>
    public IReadOnlyList<PeerChange> DrainPeerChanges()
    {
        lock (Gate)
        {
            var list = _changes.ToList();
            _changes.Clear();
            return list;
        }
    }

    /// <summary>Datagrams dropped for <paramref name="reason"/> since the host started.</summary>
    public long GetDropCount(DropReason reason)
    {
        lock (Gate)
        {
            return _drops[(int)reason];
        }
    }

    /// <summary>Totals over every session, past and present, plus datagrams dropped before reaching one.</summary>
    public UdpStatistics GetStatistics()
    {
        lock (Gate)
        {
            UdpStatistics total = _endedTotals;
            foreach (UdpPeer peer in _sessions.Values)
            {
                total = total.Add(peer.GetStatistics());
            }

            long dropped = 0;
            foreach (long count in _drops)
            {
                dropped += count;
            }

            return total with
            {
                PacketsDropped = total.PacketsDropped + dropped,
                BadChecksums = _drops[(int)DropReason.BadChecksum],
                AuthenticationFailures = _drops[(int)DropReason.AuthenticationFailed],
            };
        }
    }

    /// <summary>Sessions open now.</summary>
    public int PeerCount
    {
        get
        {
            lock (Gate)
            {
                return _sessions.Count;
            }
        }
    }

    /// <summary>Ends every session (each peer is sent a Close) and stops the host's threads.</summary>
    /// <remarks>Completes after the handlers of its sessions' last events (their messages, then
    /// <see cref="PeerDisconnected"/>) have returned, as <see cref="Dispose"/> returns; called from
    /// inside one of this host's handlers, it does not wait for that handler.</remarks>
    public async ValueTask DisposeAsync()
    {
        if (CloseAllSessions() && _driver is not null)
        {
            bool inHandler = InHandler; // read here: the wait below runs on another thread
            Thread caller = Thread.CurrentThread; // maybe one of the host's own (a handler raised inline), not to be joined
            if (inHandler)
            {
                _driver.FlushOnSendThread(); // a handler on the send thread sends the Close packets itself: it may block on this
            }

            await Task.Run(() =>
            {
                if (!inHandler)
                {
                    WaitForEventRuns();
                }

                _driver.Stop(inHandler ? caller : null);
            }).ConfigureAwait(false);
        }
    }

    /// <summary>Ends every session (each peer is sent a Close) and stops the host's threads (joins them).</summary>
    public void Dispose()
    {
        if (CloseAllSessions())
        {
            if (_driver is not null)
            {
                WaitForEventRuns(); // the handlers of the sessions just ended return first
            }

            _driver?.Stop();
        }
    }

    // True the first time: the caller then stops the threads.
    private bool CloseAllSessions()
    {
        lock (Gate)
        {
            if (_disposed)
            {
                return false;
            }

            foreach (UdpPeer peer in _sessions.Values.ToArray())
            {
                peer.SendClose(CloseReason.RemoteClose);
                EndSession(peer, CloseReason.ServerShutdown);
            }

            _disposed = true; // after the Close packets are built: Receive and Poll stop here
            _pinned.Clear();
        }

        UdpMetrics.Unregister(this);
        return true;
    }

    private void RecordChange(UdpPeer peer)
    {
        if (_changes.Count >= Options.MaxPeerChanges)
        {
            _changes.Dequeue();
        }

        _changes.Enqueue(new PeerChange(peer, peer.State, peer.CloseReason, _time.GetUtcNow()));
    }

    internal void CountDrop(DropReason reason) => _drops[(int)reason]++;
}
