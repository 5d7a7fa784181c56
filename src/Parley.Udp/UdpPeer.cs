using System.Net;

namespace Parley.Udp;

/// <summary>
/// One session with a remote host: what <see cref="UdpHost.Connect"/> returns and what
/// <see cref="UdpHost.PeerConnected"/> hands out. Thread-safe: every member takes the host's
/// lock (short, never across I/O or a handler). Sending only queues; the host's send loop puts
/// the message on the wire as congestion, pacing and the peer's flow-control credit allow. The
/// events about this peer are raised outside the host's lock, in order, one at a time (see
/// <see cref="UdpHost"/>).
/// </summary>
/// <remarks>
/// The peer coordinates components with one job each (docs/architecture.md, "Issue 17: UDP in
/// parts"): <see cref="AckTracker"/> (what to acknowledge), <see cref="LossRecovery"/> (sent
/// packets, loss, RTO), <see cref="CongestionController"/> and <see cref="Pacer"/>,
/// <see cref="SendCredit"/> and <see cref="ReceiveCredit"/> (flow control),
/// <see cref="InboundMessages"/> (reassembly and ordering), <see cref="DeliveredConfirmations"/>,
/// <see cref="MtuProber"/> and <see cref="PeerEventQueue"/>. It keeps the messages it sends
/// (UdpPeer.Messages.cs), builds packets (UdpPeer.Send.cs), dispatches received frames
/// (UdpPeer.Receive.cs), runs the session's timers and life (UdpPeer.Lifecycle.cs) and its keys
/// and path (UdpPeer.Security.cs).
/// </remarks>
public sealed partial class UdpPeer
{
    private readonly UdpHost _host;
    private readonly UdpHostOptions _options;
    private readonly AckTracker _acks;
    private readonly LossRecovery _recovery;
    private readonly RttEstimator _rtt;
    private readonly CongestionController _congestion;
    private readonly Pacer _pacer = new();
    private readonly SendCredit _sendCredit = new();
    private readonly ReceiveCredit _receiveCredit;
    private readonly InboundMessages _inbound;
    private readonly DeliveredConfirmations _delivered = new();
    private readonly MtuProber _mtu = new();
    private readonly PeerEventQueue _events;
    private readonly ReassemblyBudget.Share _reassemblyShare;
    private bool _leftReassemblyShare;
    private int _packetSize;

    internal UdpPeer(UdpHost host, SocketAddress address, uint localSessionId, bool isInitiator)
    {
        _host = host;
        _options = host.Options;
        Address = address;
        RemoteEndPoint = (IPEndPoint)new IPEndPoint(IPAddress.Any, 0).Create(address);
        LocalSessionId = localSessionId;
        IsInitiator = isInitiator;
        _events = new PeerEventQueue(this);
        _acks = new AckTracker(_options.AckEveryPackets, _options.MaxAckDelay);
        _rtt = new RttEstimator(_options.InitialRto, _options.MinRto, _options.MaxRto);
        _congestion = new CongestionController(_options.MinPacketSize, randomLossTolerance: _options.RandomLossTolerance);
        _recovery = new LossRecovery(_rtt, _congestion, _options.MaxAckDelay, this);
        _packetSize = _options.MinPacketSize;
        _receiveCredit = new ReceiveCredit(_options.ReceiveWindowBytes);

        // Both reassemblers charge the share of the session's source address (kept if the session moves).
        _reassemblyShare = host.ReassemblyBudget.Join(Parley.Internal.AddressCounter.KeyOf(RemoteEndPoint));
        _inbound = new InboundMessages(_options, _receiveCredit, _reassemblyShare, host.Buffers, this);
        _pending = new PendingIndex(2 * _options.MaxPendingMessages); // pending ids may span up to twice the count limit (an old one stuck behind newer ones)
        _sendChannels = new SendChannel[_options.Channels * 2];
        for (int i = 0; i < _sendChannels.Length; i++)
        {
            _sendChannels[i] = new SendChannel();
        }
    }

    /// <summary>The host this session belongs to.</summary>
    public UdpHost Host => _host;

    /// <summary>The address the peer's packets come from now (changes when the peer's port or address changes).</summary>
    public IPEndPoint RemoteEndPoint { get; private set; }

    /// <summary>This host's id for the session (what the peer puts in its packets).</summary>
    public uint LocalSessionId { get; }

    /// <summary>The peer's id for the session (0 until the handshake completes).</summary>
    public uint RemoteSessionId { get; private set; }

    /// <summary>True when this host started the handshake.</summary>
    public bool IsInitiator { get; }

    /// <summary>The session's state.</summary>
    public PeerState State { get; private set; } = PeerState.Connecting;

    /// <summary>Why the session ended (<see cref="CloseReason.None"/> while it has not).</summary>
    public CloseReason CloseReason { get; private set; }

    /// <summary>True when this host keeps the peer across inactivity and reconnects it (see <see cref="UdpHost.Pin"/>).</summary>
    public bool IsPinned { get; internal set; }

    /// <summary>True when something was heard from the peer within <see cref="UdpHostOptions.StartHeartbeatTimeout"/>.</summary>
    public bool IsActive
    {
        get
        {
            lock (_host.Gate)
            {
                return IsActiveAt(_host.NowMicros);
            }
        }
    }

    /// <summary>An application value to carry along (not used by the protocol).</summary>
    public object? UserData { get; set; }

    /// <summary>The smoothed round-trip time (zero before the first sample).</summary>
    public TimeSpan SmoothedRtt
    {
        get
        {
            lock (_host.Gate)
            {
                return _rtt.SmoothedRtt;
            }
        }
    }

    internal SocketAddress Address { get; private set; }

    /// <summary>
    /// Queues a message. Never blocks and never grows past the peer's limits: the result says
    /// <see cref="SendStatus.QueueFull"/> when <see cref="UdpHostOptions.MaxPendingMessages"/> or
    /// <see cref="UdpHostOptions.MaxPendingBytes"/> is reached. Allowed while connecting (sent
    /// once the session is up). The returned id names the message in state queries and events.
    /// </summary>
    /// <remarks>
    /// A final state still queued for <see cref="UdpHost.MessageStateChanged"/> holds its message's
    /// slot until the event is taken for raising: a peer whose handler does not return stops
    /// accepting messages rather than queue their events without limit.
    /// </remarks>
    public SendResult Send(ReadOnlySpan<byte> data, DeliveryMode mode = DeliveryMode.ReliableOrdered, byte channel = 0)
    {
        SendResult result;
        lock (_host.Gate)
        {
            result = Enqueue(data, mode, channel);
        }

        if (result.IsQueued)
        {
            _host.WakeSender();
        }

        return result;
    }

    /// <summary>The state of a message sent to this peer (see <see cref="MessageState.Unknown"/> for ids long finished).</summary>
    public MessageState GetMessageState(uint messageId)
    {
        lock (_host.Gate)
        {
            return StateOf(messageId);
        }
    }

    /// <summary>The states of several messages, into <paramref name="states"/> (same length as <paramref name="messageIds"/>).</summary>
    public void GetMessageStates(ReadOnlySpan<uint> messageIds, Span<MessageState> states)
    {
        if (states.Length < messageIds.Length)
        {
            throw new ArgumentException("One state per id is needed.", nameof(states));
        }

        lock (_host.Gate)
        {
            for (int i = 0; i < messageIds.Length; i++)
            {
                states[i] = StateOf(messageIds[i]);
            }
        }
    }

    /// <summary>The ids and states of every message to this peer that is not final yet, oldest first.</summary>
    public IReadOnlyList<(uint Id, MessageState State)> GetPendingMessages()
    {
        lock (_host.Gate)
        {
            var list = new List<(uint, MessageState)>(_pending.Count);
            foreach (OutgoingMessage message in _pending.ToList())
            {
                list.Add((message.Id, message.State));
            }

            list.Sort((a, b) => a.Item1.CompareTo(b.Item1));
            return list;
        }
    }

    /// <summary>Cancels a message that has not gone out yet; false when it already has (or is unknown).</summary>
    public bool Cancel(uint messageId)
    {
        lock (_host.Gate)
        {
            return TryCancel(messageId);
        }
    }

    /// <summary>Ends the session: a Close packet goes to the peer; pending messages become <see cref="MessageState.TimedOut"/>.</summary>
    public void Disconnect()
    {
        lock (_host.Gate)
        {
            IsPinned = false;
            if (State != PeerState.Disconnected)
            {
                SendClose(CloseReason.RemoteClose);
                _host.EndSession(this, CloseReason.LocalClose);
            }
        }
    }

    /// <summary>
    /// Ends the session gracefully, as ENet's <c>disconnect_later</c> does: from now on
    /// <see cref="Send"/> refuses (<see cref="SendStatus.Closed"/>); every message already
    /// queued or in flight goes on until it is final — reliable ones until their delivered
    /// confirmation — and then the Close goes out (the peer ends with <see cref="CloseReason.RemoteClose"/>,
    /// this side with <see cref="CloseReason.LocalClose"/>). Past <paramref name="timeout"/>, or when
    /// <paramref name="cancellationToken"/> fires, it ends at once as <see cref="Disconnect"/> does and
    /// what is still pending becomes <see cref="MessageState.TimedOut"/>. Completes when the session
    /// has ended: true when nothing was left pending, false otherwise (also when the session ended
    /// another way meanwhile, or had already ended).
    /// </summary>
    public Task<bool> DisconnectAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(timeout, TimeSpan.Zero);
        Task<bool> ended;
        lock (_host.Gate)
        {
            IsPinned = false;
            if (State == PeerState.Disconnected)
            {
                return Task.FromResult(false);
            }

            _closeWaiter ??= new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            ended = _closeWaiter.Task;
            long deadline = _host.NowMicros + (long)Math.Min(timeout.TotalMicroseconds, long.MaxValue / 4);
            _closeAt = _closing ? Math.Min(_closeAt, deadline) : deadline;
            _closing = true;
            _host.MarkDirty(this);
        }

        _host.WakeSender();
        if (cancellationToken.CanBeCanceled && !ended.IsCompleted)
        {
            CancellationTokenRegistration registration = cancellationToken.Register(Disconnect);
            _ = ended.ContinueWith(_ => registration.Dispose(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        return ended;
    }

    /// <summary>A snapshot of the peer's counters and state.</summary>
    public UdpStatistics GetStatistics()
    {
        lock (_host.Gate)
        {
            return Snapshot();
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"{RemoteEndPoint} #{LocalSessionId:x8} {State}";
}
