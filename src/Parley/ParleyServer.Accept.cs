using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using Parley.Internal;

namespace Parley;

public sealed partial class ParleyServer
{
    private async Task AcceptLoopAsync(Socket listener)
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex) when (_stopping.IsCancellationRequested || ex.SocketErrorCode == SocketError.OperationAborted)
            {
                return;
            }
            catch (SocketException ex)
            {
                // Out of descriptors or a connection reset before accept: log, breathe, go on.
                Log.AcceptFailed(_logger, ex.SocketErrorCode.ToString());
                await Task.Delay(TimeSpan.FromMilliseconds(50), _stopping.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                continue;
            }

            if (AtConnectionLimit(socket.RemoteEndPoint))
            {
                socket.Dispose();
                continue;
            }

            if (_options.Tls is { } tls)
            {
                _ = AcceptTlsAsync(socket, tls);
            }
            else
            {
                Accept(socket);
            }
        }
    }

    private async Task AcceptLoopAsync(ConnectionListener listener)
    {
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
            catch (Exception ex)
            {
                Log.AcceptFailed(_logger, ex.Message);
                await Task.Delay(TimeSpan.FromMilliseconds(50), _stopping.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                continue;
            }

            if (AtConnectionLimit(transport.RemoteEndPoint))
            {
                transport.Dispose();
                continue;
            }

            Accept(transport);
        }
    }

    // A connection beyond MaxConnections is refused (logged and counted); the caller closes it.
    private bool AtConnectionLimit(EndPoint? remote)
    {
        if (_connections.Count < _options.MaxConnections)
        {
            return false;
        }

        Log.ConnectionLimitReached(_logger, remote, _options.MaxConnections);
        ParleyMetrics.ConnectionsClosed.Add(1, new KeyValuePair<string, object?>("reason", "connection_limit"));
        return true;
    }

    /// <summary>Handshakes, at most <see cref="TlsServerOptions.MaxConcurrentHandshakes"/> at once, each within its timeout; a peer that
    /// fails (garbage, no ClientHello, a refused certificate) is logged and closed without affecting anyone else.</summary>
    private async Task AcceptTlsAsync(Socket socket, TlsServerOptions tls)
    {
        EndPoint? remote = socket.RemoteEndPoint;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        deadline.CancelAfter(tls.HandshakeTimeout);
        bool slot = false;
        try
        {
            await _handshakes!.WaitAsync(deadline.Token).ConfigureAwait(false);
            slot = true;
#pragma warning disable CA2000 // Accept hands the transport to a connection that owns it.
            TlsTransport transport = await TlsTransport.AcceptAsync(socket, _options, tls, deadline.Token).ConfigureAwait(false);
#pragma warning restore CA2000
            _handshakes.Release();
            slot = false;
            Accept(transport);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or AuthenticationException or SocketException or ObjectDisposedException)
        {
            string reason = ex is OperationCanceledException
                ? (_stopping.IsCancellationRequested ? "server stopping" : $"no handshake within {tls.HandshakeTimeout}")
                : ex.Message;
            Log.TlsHandshakeFailed(_logger, remote, reason);
            ParleyMetrics.ConnectionsClosed.Add(1, new KeyValuePair<string, object?>("reason", "tls_handshake"));
            socket.Dispose();
        }
        finally
        {
            if (slot)
            {
                _handshakes!.Release();
            }
        }
    }

    private void Accept(Socket socket)
    {
        Transport transport;
        try
        {
#pragma warning disable CA2000 // Accept hands the transport to a connection that owns it.
            transport = new SocketTransport(socket, _options);
#pragma warning restore CA2000
        }
        catch (SocketException ex)
        {
            // The peer left between accept and setup.
            Log.AcceptFailed(_logger, ex.SocketErrorCode.ToString());
            socket.Dispose();
            return;
        }

        Accept(transport);
    }

    private void Accept(Transport transport)
    {
#pragma warning disable CA2000 // RunConnectionAsync owns the connection and closes it.
        var connection = new Connection(transport, _options, _liveness);
#pragma warning restore CA2000

        // Register before starting, so StopAsync always sees a running connection.
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task run = RunConnectionAsync(connection, started.Task);
        _connections[connection.Id] = (connection, run);
        started.SetResult();
    }

    private async Task RunConnectionAsync(Connection connection, Task registered)
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
