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

/// <summary>
/// One event for the application, as queued. Unmanaged on purpose: the lists copy it as plain
/// bytes (no write barrier per add, nothing to clear). A message's bytes are in the queue's data
/// block at <see cref="Offset"/>, or (<see cref="Owned"/>) in the buffer at that index of the
/// queue's owned buffers (the buffer a reassembled message, or an ordered one that waited for an
/// earlier one, was already in: handed over as it is).
/// </summary>
internal struct PeerEvent
{
    public PeerEventKind Kind;
    public DeliveryMode Mode;
    public byte Channel;
    public MessageState State;
    public uint Id;
    public int Length;

    /// <summary>
    /// A message: what it is charged beyond its data (a reliable one against the receive credit,
    /// an unreliable one against the queue's budget): <see cref="ReceiveCredit.ExtraFor"/>, a
    /// pooled buffer's rounding and an entry — what an owned buffer holds, and more than the
    /// data block holds for a message (conservative: the budgets were set for buffers).
    /// </summary>
    public int Extra;

    /// <summary>A message: where its bytes are (see <see cref="Owned"/>).</summary>
    public int Offset;

    /// <summary>A message: its bytes are a buffer of its own (index <see cref="Offset"/>), not in the data block.</summary>
    public bool Owned;
}

/// <summary>
/// The events of one peer for the application, raised outside the host's lock, in the order the
/// protocol produced them. The protocol adds events under the lock; the first one schedules the
/// queue — on the thread pool for a host with threads (or on the host thread that produced it,
/// once that thread lets go of the lock, with <see cref="UdpHostOptions.UnsafePreferInlineScheduling"/>),
/// or in the host's ready list for one driven by hand (tests, the in-memory benchmark), which
/// <see cref="UdpHost.DispatchEvents"/> runs. A
/// run takes the whole queue under the lock, raises it outside, and takes the lock once more to
/// settle what was raised (<see cref="UdpPeer"/>: credit back, delivered confirmations, buffers
/// back) before the next batch; so one peer's handlers never overlap and keep their order, and a
/// handler that blocks holds up only its own peer. Bounded by its producers: reliable messages
/// by the receive credit, unreliable ones by <see cref="UnreliableBytes"/>, message states by the
/// pending-message limit (a final state counts as pending until it is taken), peer events by the
/// session's life. No allocation in steady state: the events, the data block that holds small
/// messages' bytes (one copy out of the packet, appended: no buffer rented and returned per
/// message) and the owned buffers are each two lists, swapped and reused.
/// </summary>
internal sealed class PeerEventQueue(UdpPeer peer) : IThreadPoolWorkItem
{
    // Batches per run before the queue goes to the back of the line (other peers' events get a turn).
    private const int MaxRoundsPerRun = 16;

    private List<PeerEvent> _queued = [];
    private List<PeerEvent> _raising = [];
    private byte[] _queuedData = [];
    private byte[] _raisingData = [];
    private int _queuedDataLength;
    private List<byte[]> _queuedOwned = [];
    private List<byte[]> _raisingOwned = [];
    private bool _scheduled;

    /// <summary>Events queued and not yet taken for raising.</summary>
    public int Count => _queued.Count;

    /// <summary>Final message states queued and not taken yet (they hold a pending-message slot until then).</summary>
    public int FinalsQueued { get; private set; }

    /// <summary>What the unreliable messages queued or being raised hold (data, pooled rounding, entry).</summary>
    public long UnreliableBytes { get; set; }

    /// <summary>Bytes of the lists' arrays and the two data blocks.</summary>
    public long CapacityBytes => ((long)(_queued.Capacity + _raising.Capacity) * System.Runtime.CompilerServices.Unsafe.SizeOf<PeerEvent>())
        + _queuedData.Length + _raisingData.Length + ((long)(_queuedOwned.Capacity + _raisingOwned.Capacity) * IntPtr.Size);

    /// <summary>
    /// Queues a message: <paramref name="owned"/> (a buffer the queue now owns, given back to the
    /// host's store once raised) or else a copy of <paramref name="data"/> in the data block.
    /// Caller holds the host's lock.
    /// </summary>
    public void AddMessage(ReadOnlySpan<byte> data, byte[]? owned, byte channel, DeliveryMode mode, uint id, int extra)
    {
        int offset;
        if (owned is not null)
        {
            offset = _queuedOwned.Count;
            _queuedOwned.Add(owned);
        }
        else
        {
            offset = _queuedDataLength;
            if (data.Length > _queuedData.Length - offset)
            {
                GrowData(data.Length);
            }

            data.CopyTo(_queuedData.AsSpan(offset));
            _queuedDataLength = offset + data.Length;
        }

        Add(new PeerEvent { Kind = PeerEventKind.Message, Mode = mode, Channel = channel, Id = id, Length = data.Length, Extra = extra, Offset = offset, Owned = owned is not null });
    }

    private void GrowData(int needed)
    {
        // Doubles, as a list does: what the block holds beyond its data stays within one more of it.
        byte[] grown = GC.AllocateUninitializedArray<byte>((int)Math.Min(Array.MaxLength, Math.Max(Math.Max(4096L, 2L * _queuedData.Length), (long)_queuedDataLength + needed)));
        _queuedData.AsSpan(0, _queuedDataLength).CopyTo(grown);
        _queuedData = grown;
    }

    /// <summary>A raised message's bytes (valid until its batch is settled).</summary>
    private ReadOnlySpan<byte> DataOf(in PeerEvent item) => item.Owned
        ? _raisingOwned[item.Offset].AsSpan(0, item.Length)
        : _raisingData.AsSpan(item.Offset, item.Length);

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
                    foreach (byte[] buffer in CollectionsMarshal.AsSpan(_raisingOwned))
                    {
                        host.Buffers.Return(buffer);
                    }

                    _raisingOwned.Clear();
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
                    host.ScheduleEvents(this, hadItsTurn: true); // still scheduled: the rest comes in a later run, on the pool
                    host.OnEventRunEnded();
                    break;
                }

                _peakBytes = Math.Max(_peakBytes, ((long)_queued.Count * System.Runtime.CompilerServices.Unsafe.SizeOf<PeerEvent>()) + _queuedDataLength);
                (_queued, _raising) = (_raising, _queued);
                (_queuedData, _raisingData) = (_raisingData, _queuedData);
                (_queuedOwned, _raisingOwned) = (_raisingOwned, _queuedOwned);
                _queuedDataLength = 0;
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
                    host.Raise(peer, in item, item.Kind == PeerEventKind.Message ? DataOf(in item) : default);
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

    // What an idle connected peer's lists and blocks may keep (a few hundred events).
    private const int KeepBytes = 16 * 1024;

    // The window over which the largest batch is measured.
    private const long WindowMicros = 1_000_000;

    private long _windowStart;
    private long _peakBytes; // the largest batch of the window: its events and its data

    /// <summary>
    /// On the peer's timer, under the lock, once a second: lists and blocks much larger than the
    /// largest batch of the last second (over 4×, and over <see cref="KeepBytes"/>) are given
    /// back — a burst's peak is not kept by a peer that went quiet or only trickles. Not at the
    /// end of each run: a steady stream empties its queue at the end of most runs, and giving the
    /// lists back there made every run grow them again (hundreds of bytes allocated per
    /// message); its largest batch keeps them.
    /// </summary>
    public void TrimOnTimer(long now)
    {
        if (now - _windowStart < WindowMicros)
        {
            return;
        }

        long peakBytes = _peakBytes;
        _windowStart = now;
        _peakBytes = 0;
        if (!_scheduled && _queued.Count == 0 && CapacityBytes > KeepBytes && CapacityBytes > 4 * peakBytes)
        {
            ReleaseMemory();
        }
    }

    /// <summary>Gives the lists and blocks back (nothing queued or being raised: caller checked).</summary>
    private void ReleaseMemory()
    {
        _queued.Capacity = 0;
        _raising.Capacity = 0;
        _queuedOwned.Capacity = 0;
        _raisingOwned.Capacity = 0;
        _queuedData = [];
        _raisingData = [];
    }
}
