using System.Diagnostics;
using System.Net.Sockets;

namespace Parley.Ipc;

/// <summary>
/// One shared-memory connection between two processes: a ring in each direction of
/// length-prefixed messages, in a region only these two map. Open one with
/// <see cref="ConnectAsync"/> or <see cref="IpcListener.AcceptAsync"/>.
/// </summary>
/// <remarks>
/// <para>Thread-safety: one thread may write (<see cref="Write"/>, <see cref="TryWrite"/>) while
/// one thread reads (<see cref="Read"/>, <see cref="TryRead"/>); each is single-producer or
/// single-consumer, so two concurrent writers (or readers) need the caller's own lock.
/// <see cref="Dispose"/> may be called from any thread: it wakes a blocked read or write, which
/// then fails, and the region is unmapped when the last call in progress returns.</para>
/// <para>A message span returned by a read is valid until the next read call on this channel
/// or until the channel is disposed — it points into the shared ring (no copy).</para>
/// <para>Liveness: the rendezvous socket stays open beside the region; the kernel closes it
/// when a process dies, so a peer that exits, crashes or is killed is noticed at once and the
/// channel ends with <see cref="CloseReason.ConnectionReset"/>.</para>
/// </remarks>
public sealed unsafe partial class IpcChannel : IDisposable
{
    private readonly SharedRegion _region;
    private readonly Socket _control;
    private readonly RingReader _reader;
    private readonly RingWriter _writer;
    private readonly int* _myEvent;
    private readonly int* _myWaitingForData;
    private readonly int* _myWaitingForSpace;
    private readonly int* _myClosed;
    private readonly int* _peerEvent;
    private readonly int* _peerWaitingForData;
    private readonly int* _peerWaitingForSpace;
    private readonly int* _peerMaySleep;
    private readonly int* _peerClosed;
    private readonly long _spinTicks;
    private int _closeReason; // CloseReason; the first reason wins
    private int _users = 1;   // calls in progress + 1 until disposed; the region is unmapped at 0
    private int _disposed;
    private long _messagesSent;
    private long _bytesSent;
    private long _messagesReceived;
    private long _bytesReceived;
    private long _sleeps;
    private long _wakeupsSent;
    private byte* _partial;   // stream transport: the unread rest of the current record
    private int _partialLength;

    internal IpcChannel(SharedRegion region, int side, Socket control, IpcOptions options, string name)
    {
        _region = region;
        _control = control;
        Name = name;
        Side = side;
        WaitStrategy = options.WaitStrategy;
        _spinTicks = (long)(options.SpinDuration.TotalSeconds * Stopwatch.Frequency);
        int peer = 1 - side;
        _myEvent = region.SideWord(side, RegionLayout.EventOffset);
        _myWaitingForData = region.SideWord(side, RegionLayout.WaitingForDataOffset);
        _myWaitingForSpace = region.SideWord(side, RegionLayout.WaitingForSpaceOffset);
        _myClosed = region.SideWord(side, RegionLayout.ClosedOffset);
        _peerEvent = region.SideWord(peer, RegionLayout.EventOffset);
        _peerWaitingForData = region.SideWord(peer, RegionLayout.WaitingForDataOffset);
        _peerWaitingForSpace = region.SideWord(peer, RegionLayout.WaitingForSpaceOffset);
        _peerMaySleep = region.SideWord(peer, RegionLayout.MaySleepOffset);
        _peerClosed = region.SideWord(peer, RegionLayout.ClosedOffset);

        // Side s reads ring s (ring 0: client → server) and writes the other one.
        _reader = new RingReader(region.RingData(side), region.Tail(side), _peerWaitingForSpace, region.Capacity);
        _writer = new RingWriter(region.RingData(peer), region.Tail(peer), region.Capacity);
        Volatile.Write(ref *region.SideWord(side, RegionLayout.MaySleepOffset), WaitStrategy is IpcWaitStrategy.Spin or IpcWaitStrategy.Yield ? 0 : 1);
        PeerProcessId = region.Pid(peer);
        _ = ControlSocket.WatchAsync(control, OnControlSocketEnded);
    }

    /// <summary>The name the server listens on.</summary>
    public string Name { get; }

    /// <summary>0 for the server's end, 1 for the client's.</summary>
    internal int Side { get; }

    /// <summary>The other process's id.</summary>
    public int PeerProcessId { get; internal set; }

    /// <summary>The largest message <see cref="Write"/> accepts: half the ring minus an 8-byte header.</summary>
    public int MaxMessageSize => _writer.MaxPayload;

    /// <summary>Bytes in each direction's ring.</summary>
    public int RingCapacity => _region.Capacity;

    /// <summary>How this side waits.</summary>
    public IpcWaitStrategy WaitStrategy { get; }

    /// <summary>Why the channel ended, or <see cref="CloseReason.None"/> while it is open.</summary>
    public CloseReason CloseReason => (CloseReason)Volatile.Read(ref _closeReason);

    /// <summary>Counters of this side (each written by one thread; read them as a snapshot).</summary>
    public IpcStatistics GetStatistics() => new(
        Volatile.Read(ref _messagesSent), Volatile.Read(ref _bytesSent),
        Volatile.Read(ref _messagesReceived), Volatile.Read(ref _bytesReceived),
        Volatile.Read(ref _sleeps), Volatile.Read(ref _wakeupsSent));

    /// <summary>Opens a connection to the server listening on <paramref name="name"/>.</summary>
    /// <exception cref="IpcException">No server listens on the name, it is full, or the handshake failed.</exception>
    /// <exception cref="PlatformNotSupportedException">Not on Linux.</exception>
    public static Task<IpcChannel> ConnectAsync(string name, IpcOptions? options = null, CancellationToken cancellationToken = default) =>
        Handshake.ConnectAsync(name, options ?? new IpcOptions(), cancellationToken);

    /// <summary>
    /// Closes this side: the peer reads what was already written, then sees the end
    /// (<see cref="CloseReason.RemoteClose"/>). Wakes this side's blocked calls, which fail
    /// with <see cref="CloseReason.LocalClose"/>. Idempotent; safe from any thread.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Close(CloseReason.LocalClose);
        ExitCall(); // the open reference: the region is unmapped once no call is in progress
    }

    /// <summary>
    /// Records the first reason and tells everyone. The region stays mapped until this side
    /// disposes: after the peer closed or died, what it wrote before is still read.
    /// </summary>
    private void Close(CloseReason reason)
    {
        if (Interlocked.CompareExchange(ref _closeReason, (int)reason, (int)CloseReason.None) != (int)CloseReason.None)
        {
            return;
        }

        if (reason is CloseReason.LocalClose or CloseReason.ProtocolError)
        {
            Volatile.Write(ref *_myClosed, 1);
            Wake(_peerEvent);
        }

        Wake(_myEvent); // our own blocked reader or writer
        try
        {
            _control.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
            // The peer is gone already; the socket closes below either way.
        }

        _control.Dispose();
    }

    /// <summary>The control socket ended: the peer closed it on purpose (its flag says so) or died.</summary>
    private void OnControlSocketEnded()
    {
        if (!EnterCall())
        {
            return; // closed locally
        }

        try
        {
            Close(Volatile.Read(ref *_peerClosed) != 0 ? CloseReason.RemoteClose : CloseReason.ConnectionReset);
        }
        finally
        {
            ExitCall();
        }
    }

    private bool EnterCall()
    {
        int users = Volatile.Read(ref _users);
        while (users > 0)
        {
            int seen = Interlocked.CompareExchange(ref _users, users + 1, users);
            if (seen == users)
            {
                return true;
            }

            users = seen;
        }

        return false;
    }

    private void ExitCall()
    {
        if (Interlocked.Decrement(ref _users) == 0)
        {
            _region.Dispose();
        }
    }

    /// <summary>
    /// Tells the peer this side may sleep on its futex whatever its wait strategy: the stream
    /// transport's waits always end in its wait thread, so a Spin or Yield side must be woken too.
    /// Called before the first wait.
    /// </summary>
    internal void AdvertiseSleep()
    {
        if (EnterCall())
        {
            try
            {
                Volatile.Write(ref *_region.SideWord(Side, RegionLayout.MaySleepOffset), 1);
                Interlocked.MemoryBarrier();
            }
            finally
            {
                ExitCall();
            }
        }
    }

    /// <summary>Wakes this side's own sleeping wait (the stream transport's wait thread, to re-arm).</summary>
    internal void WakeSelf()
    {
        if (EnterCall())
        {
            try
            {
                Wake(_myEvent);
            }
            finally
            {
                ExitCall();
            }
        }
    }

    private static void Wake(int* word)
    {
        Interlocked.Increment(ref *word);
        Futex.WakeAll(word);
    }

    /// <summary>Overwrites the 32-bit word at <paramref name="offset"/> of ring <paramref name="ring"/> (tests of corrupt input).</summary>
    internal void CorruptForTest(int ring, int offset, uint value) => *(uint*)(_region.RingData(ring) + offset) = value;

    private void ThrowClosed()
    {
        CloseReason reason = CloseReason;
        throw new IpcException(reason switch
        {
            CloseReason.LocalClose => $"The IPC channel '{Name}' was closed by this side.",
            CloseReason.RemoteClose => $"The IPC channel '{Name}' was closed by the peer (process {PeerProcessId}).",
            CloseReason.ConnectionReset => $"The peer of IPC channel '{Name}' (process {PeerProcessId}) went away without closing.",
            _ => $"The IPC channel '{Name}' ended after a protocol error.",
        }, reason);
    }
}
