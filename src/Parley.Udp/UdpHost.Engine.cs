using System.Net;

namespace Parley.Udp;

public sealed partial class UdpHost
{
    private readonly PriorityQueue<UdpPeer, long> _timers = new();
    private readonly List<UdpPeer> _dirty = [];
    private List<OutgoingDatagram> _outbox = [];
    private List<OutgoingDatagram>? _spareOutbox = [];

    /// <summary>A datagram built under the lock, sent outside it by the one sending thread (so packets leave in number order).</summary>
    internal readonly record struct OutgoingDatagram(SocketAddress To, byte[] Buffer, int Length);

    internal void MarkDirty(UdpPeer peer)
    {
        if (!peer.InDirtyList)
        {
            peer.InDirtyList = true;
            _dirty.Add(peer);
        }
    }

    /// <summary>Puts the peer in the timer queue at its next deadline (stale entries are skipped when they come up).</summary>
    internal void Reschedule(UdpPeer peer)
    {
        long deadline = peer.NextDeadline();
        if (deadline < peer.ScheduledAt)
        {
            peer.ScheduledAt = deadline;
            _timers.Enqueue(peer, deadline);
        }
    }

    internal bool HasWork => _dirty.Count > 0 || _outbox.Count > 0;

    /// <summary>Runs due timers and flushes every peer with something to send. Caller holds the lock.</summary>
    internal void Poll()
    {
        long now = NowMicros;
        while (_timers.TryPeek(out UdpPeer? peer, out long at) && at <= now)
        {
            _timers.Dequeue();
            if (at != peer.ScheduledAt)
            {
                continue; // superseded by an earlier deadline that already ran
            }

            peer.ScheduledAt = long.MaxValue;
            if (peer.State == PeerState.Connecting)
            {
                OnHandshakeTimer(peer, now);
            }
            else
            {
                peer.OnTimer(now);
            }

            if (peer.State != PeerState.Disconnected)
            {
                MarkDirty(peer);
            }
        }

        if (_pinned.Count > 0)
        {
            ReconnectPinned(now);
        }

        for (int i = 0; i < _dirty.Count; i++)
        {
            UdpPeer peer = _dirty[i];
            peer.InDirtyList = false;
            peer.Flush(now);
            Reschedule(peer);
        }

        _dirty.Clear();
    }

    private void ReconnectPinned(long now)
    {
        foreach ((System.Net.IPEndPoint endPoint, PinnedPeer pinned) in _pinned)
        {
            if (pinned.ReconnectAt <= now)
            {
                pinned.ReconnectAt = long.MaxValue;
                pinned.Current = StartHandshake(endPoint.Serialize());
                pinned.Current.IsPinned = true;
            }
        }
    }

    /// <summary>Microseconds until the next timer (long.MaxValue when none).</summary>
    internal long NextWakeMicros()
    {
        long next = long.MaxValue;
        while (_timers.TryPeek(out UdpPeer? peer, out long at))
        {
            if (at == peer.ScheduledAt)
            {
                next = at;
                break;
            }

            _timers.Dequeue();
        }

        foreach (PinnedPeer pinned in _pinned.Values)
        {
            next = Math.Min(next, pinned.ReconnectAt);
        }

        return next;
    }

    /// <summary>Queues a copy of a datagram built in <see cref="PacketBuffer"/> (handshake and close packets).</summary>
    internal void Emit(SocketAddress to, ReadOnlySpan<byte> datagram)
    {
        byte[] buffer = Buffers.Rent(datagram.Length);
        datagram.CopyTo(buffer);
        EmitOwned(to, buffer, datagram.Length);
    }

    /// <summary>Queues a datagram already in a buffer from <see cref="Buffers"/>; the outbox returns it after sending.</summary>
    internal void EmitOwned(SocketAddress to, byte[] buffer, int length) => _outbox.Add(new OutgoingDatagram(to, buffer, length));

    /// <summary>Takes the datagrams built so far (caller holds the lock); give the list back with <see cref="ReturnOutbox"/>.</summary>
    internal List<OutgoingDatagram> TakeOutbox()
    {
        List<OutgoingDatagram> taken = _outbox;
        _outbox = _spareOutbox ?? [];
        _spareOutbox = null;
        return taken;
    }

    /// <summary>Gives back a list from <see cref="TakeOutbox"/> and its buffers. Caller holds the lock.</summary>
    internal void ReturnOutbox(List<OutgoingDatagram> list)
    {
        foreach (OutgoingDatagram datagram in list)
        {
            Buffers.Return(datagram.Buffer);
        }

        list.Clear();
        _spareOutbox = list;
    }

    /// <summary>Sends everything built (simulation: synchronously, under the lock).</summary>
    internal void DrainTo(IDatagramTransport transport)
    {
        foreach (OutgoingDatagram datagram in _outbox)
        {
            transport.Send(datagram.To, datagram.Buffer.AsSpan(0, datagram.Length));
            Buffers.Return(datagram.Buffer);
        }

        _outbox.Clear();
    }

    /// <summary>Tells the sending thread there is work (a no-op without one: simulations poll).</summary>
    internal void WakeSender() => _driver?.Wake();
}
