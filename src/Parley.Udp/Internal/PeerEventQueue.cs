using System.Runtime.InteropServices;

namespace Parley.Udp;

/// <summary>What a <see cref="PeerEvent"/> reports.</summary>
internal enum PeerEventKind : byte
{
    Message,
    MessageState,
    Connected,
    Disconnected,
    AddressChanged,
}

/// <summary>One event for the application, as queued (a message's bytes in a pooled buffer the queue owns).</summary>
internal struct PeerEvent
{
    public PeerEventKind Kind;
    public DeliveryMode Mode;
    public byte Channel;
    public MessageState State;
    public uint Id;
    public int Length;

    /// <summary>A message: what it holds beyond its data (a reliable one's charge against the receive credit, an unreliable one's against the queue's budget).</summary>
    public int Extra;

    /// <summary>A message's bytes (null when empty).</summary>
    public byte[]? Buffer;
}

/// <summary>
/// The events of one peer for the application, raised outside the host's lock, in the order the
/// protocol produced them. The protocol adds events under the lock; the first one schedules the
/// queue — on the thread pool for a host with threads, or in the host's ready list for one driven
/// by hand (tests, the in-memory benchmark), which <see cref="UdpHost.DispatchEvents"/> runs. A
/// run takes the whole queue under the lock, raises it outside, and takes the lock once more to
/// settle what was raised (<see cref="UdpPeer"/>: credit back, delivered confirmations, buffers
/// back) before the next batch; so one peer's handlers never overlap and keep their order, and a
/// handler that blocks holds up only its own peer. Bounded by its producers: reliable messages
/// by the receive credit, unreliable ones by <see cref="UnreliableBytes"/>, message states by the
/// pending-message limit (a final state counts as pending until it is taken), peer events by the
/// session's life. No allocation in steady state (two lists swapped and reused).
/// </summary>
internal sealed class PeerEventQueue(UdpPeer peer) : IThreadPoolWorkItem
{
    // Batches per run before the queue goes to the back of the line (other peers' events get a turn).
    private const int MaxRoundsPerRun = 16;

    private List<PeerEvent> _queued = [];
    private List<PeerEvent> _raising = [];
    private bool _scheduled;

    /// <summary>Events queued and not yet taken for raising.</summary>
    public int Count => _queued.Count;

    /// <summary>Final message states queued and not taken yet (they hold a pending-message slot until then).</summary>
    public int FinalsQueued { get; private set; }

    /// <summary>What the unreliable messages queued or being raised hold (data, pooled rounding, entry).</summary>
    public long UnreliableBytes { get; set; }

    /// <summary>Bytes of the two lists' arrays.</summary>
    public long CapacityBytes => (long)(_queued.Capacity + _raising.Capacity) * System.Runtime.CompilerServices.Unsafe.SizeOf<PeerEvent>();

    /// <summary>
    /// Queues an event; the first one of a run schedules the queue. <paramref name="finalState"/>:
    /// a message's last state change (it holds a pending-message slot until taken). Caller holds the host's lock.
    /// </summary>
    public void Add(in PeerEvent item, bool finalState = false)
    {
        if (finalState)
        {
            FinalsQueued++;
        }

        _queued.Add(item);
        if (!_scheduled)
        {
            _scheduled = true;
            peer.Host.ScheduleEvents(this);
        }
    }

    void IThreadPoolWorkItem.Execute() => Run();

    /// <summary>Raises what is queued, batch by batch, until the queue is empty (or it has had its turn). Caller does not hold the lock.</summary>
    public void Run()
    {
        UdpHost host = peer.Host;
        bool wake = false;
        for (int round = 0; ; round++)
        {
            lock (host.Gate)
            {
                if (_raising.Count > 0)
                {
                    wake |= peer.OnEventsRaised(CollectionsMarshal.AsSpan(_raising));
                    _raising.Clear();
                }

                if (_queued.Count == 0)
                {
                    _scheduled = false;
                    if (peer.State == PeerState.Disconnected)
                    {
                        ReleaseMemory(); // the last events of an ended session: keep nothing
                    }

                    host.OnEventRunEnded();
                    break;
                }

                if (round == MaxRoundsPerRun)
                {
                    host.ScheduleEvents(this); // still scheduled: the rest comes in a later run
                    host.OnEventRunEnded();
                    break;
                }

                _peakBatch = Math.Max(_peakBatch, _queued.Count);
                (_queued, _raising) = (_raising, _queued);
                FinalsQueued = 0;
            }

            if (wake)
            {
                host.WakeSender(); // confirmations and window updates to send
                wake = false;
            }

            UdpHost.RaisingOn = host;
            try
            {
                foreach (ref readonly PeerEvent item in CollectionsMarshal.AsSpan(_raising))
                {
                    host.Raise(peer, in item);
                }
            }
            finally
            {
                UdpHost.RaisingOn = null;
            }
        }

        if (wake)
        {
            host.WakeSender();
        }
    }

    // What an idle connected peer's two lists may keep (a few hundred events).
    private const int KeepBytes = 16 * 1024;

    // The window over which the largest batch is measured.
    private const long WindowMicros = 1_000_000;

    private long _windowStart;
    private int _peakBatch;

    /// <summary>
    /// On the peer's timer, under the lock, once a second: lists much larger than the largest
    /// batch of the last second (over 4×, and over <see cref="KeepBytes"/>) are given back —
    /// a burst's peak is not kept by a peer that went quiet or only trickles. Not at the end of
    /// each run: a steady stream empties its queue at the end of most runs, and giving the
    /// lists back there made every run grow them again (hundreds of bytes allocated per
    /// message); its largest batch keeps them.
    /// </summary>
    public void TrimOnTimer(long now)
    {
        if (now - _windowStart < WindowMicros)
        {
            return;
        }

        long peakBytes = (long)_peakBatch * System.Runtime.CompilerServices.Unsafe.SizeOf<PeerEvent>();
        _windowStart = now;
        _peakBatch = 0;
        if (!_scheduled && _queued.Count == 0 && CapacityBytes > KeepBytes && CapacityBytes > 4 * peakBytes)
        {
            ReleaseMemory();
        }
    }

    private void ReleaseMemory()
    {
        _queued.Capacity = 0;
        _raising.Capacity = 0;
    }
}
