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
    /// Synchronous (it joins two threads); <see cref="UdpHost.DisposeAsync"/> runs it off the caller's thread.
    /// </summary>
    public void Stop()
    {
        long deadline = Environment.TickCount64 + 200;
        while (Environment.TickCount64 < deadline)
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
        _socket.Dispose();
        _receiver.Join();
        _sender.Join();
        Dispose();
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
        }
    }

    private void SendLoop()
    {
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
                    _host.Poll();
                    batch = _host.TakeOutbox();
                    long next = _host.NextWakeMicros();
                    waitMicros = next == long.MaxValue ? 100_000 : next - _host.NowMicros;
                }

                foreach (UdpHost.OutgoingDatagram datagram in batch)
                {
                    Send(datagram.To, datagram.Buffer.AsSpan(0, datagram.Length));
                }

                _host.ReturnOutbox(batch);
            }
            catch (Exception e) when (!_stopping)
            {
                Log.SocketError(_logger, e); // a bug; keep the host alive and say so
                waitMicros = 1000;
            }

            if ((batch is null || batch.Count == 0) && waitMicros > 0)
            {
                // Sleep until the next timer (whole milliseconds: the OS wait's resolution), or a wake-up.
                _wake.Wait(TimeSpan.FromMilliseconds(Math.Clamp((waitMicros + 999) / 1000, 1, 100)));
            }
        }
    }
}
