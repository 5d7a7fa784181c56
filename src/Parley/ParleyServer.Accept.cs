using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using Parley.Internal;

namespace Parley;

public sealed partial class ParleyServer
{
    private async Task AcceptLoopAsync(ActiveListener active)
    {
        ConnectionListener listener = active.Binding.Listener;
        while (!_stopping.IsCancellationRequested)
        {
            Transport transport;
            try
            {
                transport = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException || _stopping.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.OperationAborted)
            {
                return;
            }
            catch (Exception ex)
            {
                // Out of descriptors, or a connection reset before accept: log, breathe, go on.
                Log.AcceptFailed(_logger, ex is SocketException socketError ? socketError.SocketErrorCode.ToString() : ex.Message);
                await Task.Delay(TimeSpan.FromMilliseconds(50), _stopping.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                continue;
            }

            if (TryAdmit(transport.RemoteEndPoint, out UInt128? address) is { } refusal)
            {
                Refuse(transport, refusal, plain: active.Binding.Tls is null);
                continue;
            }

            if (active.Binding.Tls is not null)
            {
                StartHandshake(transport, active, address);
            }
            else
            {
                Accept(transport, address);
            }
        }
    }

    /// <summary>
    /// Admits a new connection against <see cref="ParleyServerOptions.MaxConnections"/> and
    /// <see cref="ParleyServerOptions.MaxConnectionsPerAddress"/>: null when admitted (its address
    /// then holds one more unit, given back when it ends), else why it is refused (logged within a
    /// budget, and counted); the caller closes it.
    /// </summary>
    private CloseReason? TryAdmit(EndPoint? remote, out UInt128? address)
    {
        address = AddressCounter.KeyOf(remote);
        CloseReason reason;
        if (_connections.Count >= _options.MaxConnections)
        {
            reason = CloseReason.ConnectionLimit;
            if (_refusalLog.TryTake(out long suppressed))
            {
                Log.ConnectionLimitReached(_logger, remote, _options.MaxConnections, suppressed);
            }
        }
        else if (!_perAddress.TryAcquire(address, _options.MaxConnectionsPerAddress))
        {
            reason = CloseReason.AddressLimit;
            if (_refusalLog.TryTake(out long suppressed))
            {
                Log.AddressLimitReached(_logger, remote, _options.MaxConnectionsPerAddress, suppressed);
            }
        }
        else
        {
            return null;
        }

        address = null;
        ParleyMetrics.ConnectionsClosed.Add(1, new KeyValuePair<string, object?>("reason", reason == CloseReason.ConnectionLimit ? "connection_limit" : "address_limit"));
        return reason;
    }

    /// <summary>Closes a refused connection, first writing the <see cref="ParleyServerOptions.RefusalMessage"/>
    /// when the connection is plain (over TLS there is no session to say it in yet).</summary>
    private void Refuse(Transport transport, CloseReason reason, bool plain)
    {
        if (plain && _options.RefusalMessage?.Invoke(reason) is { IsEmpty: false } payload && TryAddRefusal(transport))
        {
            byte[] frame = new byte[_options.Framer.GetFrameLength(payload.Length)];
            _options.Framer.WriteFrame(payload.Span, frame);
            _ = TellThenCloseAsync(transport, frame);
            return;
        }

        transport.Dispose(); // no goodbye, or too many in progress: close without a word
    }

    /// <summary>Registers a refused connection whose goodbye is starting, unless <see cref="MaxLingeringRefusals"/> are under way.</summary>
    private bool TryAddRefusal(Transport transport)
    {
        lock (_refusing)
        {
            return _refusing.Count < MaxLingeringRefusals && _refusing.Add(transport);
        }
    }

    private const int MaxLingeringRefusals = 64;

    // Refused connections still saying goodbye: StopAsync closes them (see CloseRefusals).
    private readonly HashSet<Transport> _refusing = [];

    /// <summary>Closes the refused connections whose goodbye is still under way, so none outlives <see cref="StopAsync"/>.</summary>
    private void CloseRefusals()
    {
        Transport[] refusing;
        lock (_refusing)
        {
            refusing = [.. _refusing];
        }

        foreach (Transport transport in refusing)
        {
            transport.Dispose(); // its goodbye ends at once and removes it
        }
    }

    // Nothing here may wait long on a peer the server is turning away: the whole goodbye — the
    // message, the FIN, reading what the peer sends until it closes — gets one second, then the
    // transport is closed regardless; and at most MaxLingeringRefusals run at a time. Closing
    // with the peer's first bytes unread would send a reset, which can destroy the message
    // before the peer reads it, hence the read.
    private async Task TellThenCloseAsync(Transport transport, byte[] frame)
    {
        try
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(1), _options.TimeProvider);
            using CancellationTokenRegistration abort = deadline.Token.Register(static state => ((Transport)state!).Dispose(), transport);
            await transport.SendAsync(frame).ConfigureAwait(false);
            await transport.ShutdownSendAsync().ConfigureAwait(false);
            byte[] sink = new byte[1024];
            while (await transport.ReceiveAsync(sink).ConfigureAwait(false) > 0)
            {
            }
        }
#pragma warning disable CA1031 // Any failure of a goodbye ends in the same close; nothing awaits this task to observe it.
        catch (Exception)
#pragma warning restore CA1031
        {
            // The peer reset or left, the moment passed (the deadline disposed the transport), the
            // server stopped, or a third-party transport failed its own way: close all the same.
        }
        finally
        {
            transport.Dispose();
            lock (_refusing)
            {
                _refusing.Remove(transport);
            }
        }
    }

    /// <summary>Handshakes, at most <see cref="TlsServerOptions.MaxConcurrentHandshakes"/> at once per listener, each within its timeout; a peer that
    /// fails (garbage, no ClientHello, a refused certificate) is logged and closed without affecting anyone else.</summary>
    private async Task AcceptTlsAsync(Transport raw, ActiveListener active, UInt128? address)
    {
        TlsServerOptions tls = active.Binding.Tls!;
        SemaphoreSlim handshakes = active.Handshakes!;
        EndPoint? remote = raw.RemoteEndPoint;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        deadline.CancelAfter(tls.HandshakeTimeout);
        long started = _options.TimeProvider.GetTimestamp();
        bool slot = false;
        bool admitted = false;
        bool share = false;
        try
        {
            // A silent connection holds no slot and no share: wait for the first bytes of the
            // ClientHello. A transport's wait ends when it is closed, so the deadline closes it.
            using (deadline.Token.Register(static state => ((Transport)state!).Dispose(), raw))
            {
                await raw.ReceiveAsync(Memory<byte>.Empty).ConfigureAwait(false);
            }

            deadline.Token.ThrowIfCancellationRequested();

            // One address gets a share of the handshake slots, never all of them.
            if (!_handshakesPerAddress.TryAcquire(address, tls.MaxHandshakesPerAddress))
            {
                throw new IOException($"{tls.MaxHandshakesPerAddress} handshakes from this address are in progress already (MaxHandshakesPerAddress)");
            }

            share = true;
            await handshakes.WaitAsync(deadline.Token).ConfigureAwait(false);
            slot = true;
            if (handshakes.CurrentCount < tls.MaxConcurrentHandshakes / 4)
            {
                // Saturated: whoever holds the slots may be stalling on purpose. A short deadline
                // frees them for honest clients sooner; a real handshake takes milliseconds.
                TimeSpan left = tls.HandshakeTimeout - _options.TimeProvider.GetElapsedTime(started);
                TimeSpan quarter = tls.HandshakeTimeout / 4;
                deadline.CancelAfter(left < quarter ? (left > TimeSpan.Zero ? left : TimeSpan.Zero) : quarter);
            }

#pragma warning disable CA2000 // Accept hands the transport to a connection that owns it.
            TlsTransport transport = await TlsTransport.AuthenticateAsServerAsync(raw, tls, deadline.Token).ConfigureAwait(false);
#pragma warning restore CA2000
            handshakes.Release();
            slot = false;
            admitted = AcceptHandshaken(transport, remote, address);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or AuthenticationException or SocketException or ObjectDisposedException
                                   || deadline.IsCancellationRequested)
        {
            string reason = deadline.IsCancellationRequested
                ? (_stopping.IsCancellationRequested ? "server stopping" : $"no handshake within {tls.HandshakeTimeout}")
                : ex.Message;
            if (_refusalLog.TryTake(out _))
            {
                Log.TlsHandshakeFailed(_logger, remote, reason);
            }

            ParleyMetrics.ConnectionsClosed.Add(1, new KeyValuePair<string, object?>("reason", "tls_handshake"));
            raw.Dispose();
        }
        finally
        {
            if (slot)
            {
                handshakes.Release();
            }

            if (share)
            {
                _handshakesPerAddress.Release(address);
            }

            if (!admitted)
            {
                _perAddress.Release(address);
            }
        }
    }

    private void Accept(Transport transport, UInt128? address)
    {
#pragma warning disable CA2000 // RunConnectionAsync owns the connection and closes it.
        var connection = new Connection(transport, _options, _liveness, _peerLog);
#pragma warning restore CA2000

        // Register before starting, so StopAsync always sees a running connection.
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task run = RunConnectionAsync(connection, started.Task, address);
        _connections[connection.Id] = (connection, run);
        started.SetResult();
    }

    private async Task RunConnectionAsync(Connection connection, Task registered, UInt128? address)
    {
        await registered.ConfigureAwait(false);
        bool started = false;
        try
        {
            started = connection.TryStart();
            if (!started)
            {
                // Closed by StopAsync before it started.
                return;
            }

            Everyone.Add(connection);
            RaiseConnected(connection);
            if (_handler is null)
            {
                await connection.PumpMessagesAsync(OnMessage).ConfigureAwait(false);
            }
            else
            {
                await _handler(connection, connection.Closed).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (connection.Closed.IsCancellationRequested)
        {
            // The handler read with the token it was given and its connection closed (the peer
            // left, the server stopped): that is how a handler ends, not a failure.
        }
        catch (Exception ex)
        {
            Log.HandlerFailed(_logger, connection.Id, connection.RemoteEndPoint, ex);
            connection.Abort(CloseReason.ApplicationError, ex);
            RaiseError(connection, ex);
        }
        finally
        {
            await connection.CloseAsync(CloseReason.LocalClose).ConfigureAwait(false);
            _connections.TryRemove(connection.Id, out _);
            _perAddress.Release(address);
            if (started)
            {
                RaiseDisconnected(connection);
            }
        }
    }

    private void OnMessage(Connection connection, System.Buffers.ReadOnlySequence<byte> message) =>
        MessageReceived?.Invoke(connection, message);

    private void RaiseConnected(Connection connection) => Connected?.Invoke(connection);

    private void RaiseDisconnected(Connection connection)
    {
        try
        {
            Disconnected?.Invoke(connection);
        }
        catch (Exception ex)
        {
            Log.EventHandlerFailed(_logger, ex);
            RaiseError(connection, ex);
        }
    }

    private void RaiseError(Connection? connection, Exception exception)
    {
        try
        {
            Error?.Invoke(connection, exception);
        }
        catch (Exception ex)
        {
            // An Error handler that throws has nowhere left to report to but the log.
            Log.EventHandlerFailed(_logger, ex);
        }
    }
}
