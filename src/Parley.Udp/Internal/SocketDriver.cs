using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Parley.Udp;

/// <summary>
/// Runs a <see cref="UdpHost"/> on a real socket with two threads: one blocks in receive and
/// hands each datagram to the host under its lock; the other runs timers, builds packets under
/// the lock and sends them outside it. Only the second thread sends, so a session's packets
/// leave in packet-number order. With <see cref="NetworkConditions"/> the sends go through a
/// <see cref="DelayLine"/> that loses, delays and reorders them (bench and tests only).
/// </summary>
internal sealed class SocketDriver : IDatagramTransport, IDisposable
{
    private readonly UdpHost _host;
    private readonly Socket _socket;
    private readonly ILogger _logger;
    private readonly DelayLine? _delayLine;
    private readonly ManualResetEventSlim _wake = new(false);
    private readonly Thread _receiver;
    private readonly Thread _sender;
    private readonly byte[]? _staging; // a run of datagrams for one segmentation-offload send
    private bool _offload;
    private int _signalled;
    private volatile bool _stopping;

    public SocketDriver(UdpHost host, Socket socket, NetworkConditions? conditions, int seed, ILogger logger)
    {
        _host = host;
        _socket = socket;
        _logger = logger;
        if (conditions is not null && conditions != NetworkConditions.Perfect)
        {
            _delayLine = new DelayLine(conditions, seed, SendNow);
        }

        // Segmentation offload (Linux): runs of datagrams in one system call each way. Not with the
        // simulated network, which must see every datagram to lose or delay it.
        if (host.Options.SegmentationOffload && _delayLine is null && LinuxUdp.IsSupported)
        {
            _offload = LinuxUdp.TryEnable(_socket);
            _staging = _offload ? GC.AllocateUninitializedArray<byte>(LinuxUdp.MaxSendBytes, pinned: true) : null;
        }

        _receiver = new Thread(ReceiveLoop) { IsBackground = true, Name = "parley-udp-receive" };
        _sender = new Thread(SendLoop) { IsBackground = true, Name = "parley-udp-send" };
    }

    public void Start()
    {
        _receiver.Start();
        _sender.Start();
    }

    public void Wake()
    {
        // Read first: a stream's Send calls find it already signalled, with no atomic write each.
        if (Volatile.Read(ref _signalled) == 0 && Interlocked.Exchange(ref _signalled, 1) == 0)
        {
            _wake.Set();
        }
    }

    /// <summary>
    /// Stops both threads: first lets the send loop put what is already built (the Close
    /// packets) on the wire, up to 200 ms, then closes the socket, which unblocks the receive.
    /// Synchronous (it joins two threads); <see cref="UdpHost.DisposeAsync"/> runs it off the caller's
    /// thread, and says which thread that was (<paramref name="notJoining"/>): a handler on one of
    /// these two that awaits the disposal must not be waited for.
    /// </summary>
    public void Stop(Thread? notJoining = null)
    {
        if (Thread.CurrentThread == _sender)
        {
            FlushOnSendThread(); // a handler on the send thread: it cannot also be the one that sends the Close packets
        }

        long deadline = Environment.TickCount64 + 200;
        while (Environment.TickCount64 < deadline && Thread.CurrentThread != _sender && notJoining != _sender)
        {
            lock (_host.Gate)
            {
                if (!_host.HasWork)
                {
                    break;
                }
            }

            Wake();
            Thread.Sleep(1);
        }

        _stopping = true;
        Wake();
        _socket.Dispose(); // shuts the socket down: a blocked receive returns

        // From a handler raised on one of the two threads (UnsafePreferInlineScheduling), or for
        // one (DisposeAsync, on its behalf): that thread is not waited for — it ends its loop when
        // the handler returns. The wake-up event it may still touch is left to the collector, and
        // the delay line goes when both this and the send loop are done with it.
        Thread current = Thread.CurrentThread;
        bool joinAll = true;
        foreach (Thread thread in (Thread[])[_receiver, _sender])
        {
            if (thread == current || thread == notJoining)
            {
                joinAll = false;
                continue;
            }

            thread.Join();
        }

        ReleaseDelayLine();
        if (joinAll)
        {
            _wake.Dispose();
        }
    }

    /// <summary>
    /// On the send thread, from a handler that stops the host (or <see cref="UdpHost.DisposeAsync"/>
    /// on its behalf, before it hands the rest to another thread): builds and sends what is due
    /// — the Close packets — itself, as its loop would have.
    /// </summary>
    internal void FlushOnSendThread()
    {
        if (Thread.CurrentThread != _sender || _stopping)
        {
            return;
        }

        List<UdpHost.OutgoingDatagram> batch;
        lock (_host.Gate)
        {
            _host.Poll();
            batch = _host.TakeOutbox();
        }

        SendBatch(batch);
        lock (_host.Gate)
        {
            _host.ReturnOutbox(batch);
        }
    }

    // Stop and the send loop each release once; the second disposes (the send loop may outlive Stop).
    private int _delayLineReleases;

    private void ReleaseDelayLine()
    {
        if (Interlocked.Increment(ref _delayLineReleases) == 2)
        {
            _delayLine?.Dispose();
        }
    }

    public void Dispose()
    {
        _delayLine?.Dispose();
        _wake.Dispose();
    }

    public void Send(SocketAddress to, ReadOnlySpan<byte> datagram)
    {
        if (_delayLine is not null)
        {
            _delayLine.Submit(to, datagram);
        }
        else
        {
            SendNow(to, datagram);
        }
    }

    private void SendNow(SocketAddress to, ReadOnlySpan<byte> datagram)
    {
        try
        {
            _socket.SendTo(datagram, SocketFlags.None, to);
        }
        catch (SocketException e)
        {
            Log.TransientSocketError(_logger, e.SocketErrorCode); // a full buffer or an ICMP error: the datagram is lost, retransmission copes
        }
        catch (ObjectDisposedException) when (_stopping)
        {
            // shutting down: nothing more to send
        }
    }

    private void ReceiveLoop()
    {
        _host.AdoptInlineEvents();
        try
        {
            if (_offload)
            {
                ReceiveRuns();
            }
            else
            {
                ReceiveDatagrams();
            }
        }
        finally
        {
            UdpHost.HandOffInlineEvents();
        }
    }

    /// <summary>The plain receive: one datagram per call.</summary>
    private void ReceiveDatagrams()
    {
        byte[] buffer = GC.AllocateUninitializedArray<byte>(65536, pinned: true);
        var from = new SocketAddress(_socket.AddressFamily);
        while (!_stopping)
        {
            int length;
            try
            {
                length = _socket.ReceiveFrom(buffer, SocketFlags.None, from);
            }
            catch (SocketException e) when (!_stopping)
            {
                Log.TransientSocketError(_logger, e.SocketErrorCode); // e.g. ECONNREFUSED reported for an earlier send
                continue;
            }
            catch (Exception) when (_stopping)
            {
                break; // the socket was closed to stop us
            }

            bool wake;
            lock (_host.Gate)
            {
                _host.Receive(from, buffer.AsSpan(0, length));
                wake = _host.HasWork;
            }

            if (wake)
            {
                Wake();
            }

            UdpHost.RunInlineEvents();
        }
    }

    /// <summary>The offload receive: each call may bring a run of datagrams from one sender, handled under one lock hold.</summary>
    private void ReceiveRuns()
    {
        byte[] buffer = GC.AllocateUninitializedArray<byte>(65536, pinned: true);
        var from = new SocketAddress(_socket.AddressFamily);
        while (!_stopping)
        {
            int length = LinuxUdp.Receive(_socket.SafeHandle, buffer, from, out int segment);
            if (length <= 0 && _stopping)
            {
                break; // shut down by Stop
            }

            if (length < 0)
            {
                if (-length is not (11 or 4)) // EAGAIN, EINTR: try again
                {
                    Log.TransientSocketErrno(_logger, -length); // e.g. ECONNREFUSED for an earlier send
                }

                continue;
            }

            segment = segment <= 0 ? Math.Max(1, length) : segment;
            bool wake;
            lock (_host.Gate)
            {
                int offset = 0;
                do
                {
                    int size = Math.Min(segment, length - offset);
                    _host.Receive(from, buffer.AsSpan(offset, size));
                    offset += size;
                }
                while (offset < length);

                wake = _host.HasWork;
            }

            if (wake)
            {
                Wake();
            }

            UdpHost.RunInlineEvents();
        }
    }

    /// <summary>
    /// Sends a batch, each run of same-size datagrams to one address (the last may be shorter) in
    /// one offload call. A kernel that refuses offload on this path (EIO, EINVAL) turns it off for
    /// good and the run goes one datagram at a time.
    /// </summary>
    private void SendBatch(List<UdpHost.OutgoingDatagram> batch)
    {
        int i = 0;
        while (i < batch.Count)
        {
            UdpHost.OutgoingDatagram first = batch[i];
            int end = i + 1;
            int total = first.Length;
            if (_offload)
            {
                while (end < batch.Count && end - i < LinuxUdp.MaxSegments && batch[end - 1].Length == first.Length
                    && batch[end].Length <= first.Length && total + batch[end].Length <= LinuxUdp.MaxSendBytes
                    && (ReferenceEquals(batch[end].To, first.To) || batch[end].To.Equals(first.To)))
                {
                    total += batch[end].Length;
                    end++;
                }
            }

            if (end - i == 1 || !_offload)
            {
                Send(first.To, first.Buffer.AsSpan(0, first.Length));
                i = end;
                continue;
            }

            int at = 0;
            for (int k = i; k < end; k++)
            {
                batch[k].Buffer.AsSpan(0, batch[k].Length).CopyTo(_staging.AsSpan(at));
                at += batch[k].Length;
            }

            int error = _stopping ? 0 : LinuxUdp.Send(_socket.SafeHandle, first.To, _staging.AsSpan(0, total), first.Length);
            if (error is 5 or 22) // EIO, EINVAL: no offload for this socket or device
            {
                _offload = false;
                continue; // the same run again, one by one
            }

            if (error != 0)
            {
                Log.TransientSocketErrno(_logger, error); // a full buffer: the run is lost, retransmission copes
            }

            i = end;
        }
    }

    private void SendLoop()
    {
        _host.AdoptInlineEvents();
        try
        {
            SendUntilStopped();
        }
        finally
        {
            UdpHost.HandOffInlineEvents();
            ReleaseDelayLine(); // after its last send (Stop may not have joined this thread)
        }
    }

    private void SendUntilStopped()
    {
        List<UdpHost.OutgoingDatagram>? sent = null;
        while (!_stopping)
        {
            _wake.Reset();
            Volatile.Write(ref _signalled, 0);
            List<UdpHost.OutgoingDatagram>? batch = null;
            long waitMicros;
            try
            {
                lock (_host.Gate)
                {
                    if (sent is not null)
                    {
                        _host.ReturnOutbox(sent); // the last batch's buffers, under the lock taken anyway
                        sent = null;
                    }

                    _host.Poll();
                    batch = _host.TakeOutbox();
                    long next = _host.NextWakeMicros();
                    waitMicros = next == long.MaxValue ? 100_000 : next - _host.NowMicros;
                }

                SendBatch(batch);
                sent = batch;
            }
            catch (Exception e) when (!_stopping)
            {
                Log.SocketError(_logger, e); // a bug; keep the host alive and say so
                waitMicros = 1000;
            }

            UdpHost.RunInlineEvents(); // after the packets left: handlers do not delay them

            if ((batch is null || batch.Count == 0) && waitMicros > 0)
            {
                // Sleep until the next timer (whole milliseconds: the OS wait's resolution), or a wake-up.
                _wake.Wait(TimeSpan.FromMilliseconds(Math.Clamp((waitMicros + 999) / 1000, 1, 100)));
            }
        }
    }
}
