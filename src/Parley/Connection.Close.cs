using System.Net.Sockets;
using Parley.Internal;

namespace Parley;

public sealed partial class Connection
{
    private TaskCompletionSource? _closeCompletion;

    /// <summary>
    /// Closes gracefully: no new sends are accepted, queued frames are written (within
    /// <see cref="ConnectionOptions.CloseTimeout"/>), a FIN is sent, and the peer's FIN is
    /// awaited within the same deadline so nothing still in flight is cut off by a reset.
    /// Idempotent: every call returns the same task.
    /// </summary>
    public Task CloseAsync() => CloseAsync(CloseReason.LocalClose);

    /// <summary>
    /// Closes at once without flushing: queued frames are released, the transport is torn
    /// down. Safe from any thread, idempotent. The first reason recorded wins.
    /// </summary>
    /// <param name="reason">Why; default <see cref="CloseReason.LocalAbort"/>. An application
    /// closing a peer that broke its protocol passes <see cref="CloseReason.ProtocolError"/>.</param>
    /// <param name="exception">The error behind it, if any.</param>
    public void Abort(CloseReason reason = CloseReason.LocalAbort, Exception? exception = null)
    {
        TrySetCloseReason(reason, exception);
        MoveToClosing();
        _sendQueue.Abort(new ConnectionClosedException(CloseReason));
        _transport.Dispose();

        // The receive loop may be parked on a full pipe that nobody reads any more.
        _input.Writer.CancelPendingFlush();

        // A connection that never started closes here, in one step that TryStart cannot
        // interleave with: a check of State followed by FinalizeClose could let TryStart open
        // it in between and its loops run on a connection already marked closed.
        if (Interlocked.CompareExchange(ref _state, (int)ConnectionState.Closed, (int)ConnectionState.Created) == (int)ConnectionState.Created)
        {
            FinalizeClose();
        }
    }

    /// <summary>Same as <see cref="CloseAsync()"/>. <see cref="Closed"/> stays readable afterwards.</summary>
    public ValueTask DisposeAsync() => new(CloseAsync());

    /// <summary>
    /// Closes gracefully, as <see cref="CloseAsync()"/>, recording <paramref name="reason"/> (the
    /// first reason recorded wins). An application that ends a session because the peer broke
    /// its protocol passes <see cref="CloseReason.ProtocolError"/> after sending its last word.
    /// </summary>
    public Task CloseAsync(CloseReason reason)
    {
        // A reason recorded by this call is a request to close gracefully, whatever it says; a
        // failure recorded earlier (a reset, an oversized frame) makes the close an abort.
        bool graceful = TrySetCloseReason(reason) || IsGraceful(CloseReason);
        if (Volatile.Read(ref _closeCompletion) is { } existing)
        {
            return existing.Task;
        }

        var completion = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Interlocked.CompareExchange(ref _closeCompletion, completion, null) is { } winner)
        {
            return winner.Task;
        }

        _ = RunCloseAsync(completion, graceful);
        return completion.Task;
    }

    private async Task RunCloseAsync(TaskCompletionSource completion, bool graceful)
    {
        try
        {
            MoveToClosing();
            if (State == ConnectionState.Created || !graceful)
            {
                Abort(CloseReason);
            }
            else
            {
                using var deadline = new CancellationTokenSource(_options.CloseTimeout);
                _sendQueue.Complete();
                try
                {
                    await _sendTask.WaitAsync(deadline.Token).ConfigureAwait(false);
                    await _transport.ShutdownSendAsync(CloseReason).ConfigureAwait(false);

                    // Linger until the peer's FIN: closing with unread input would send a
                    // reset, which can destroy data the peer has not read yet.
                    await _receiveTask.WaitAsync(deadline.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    if (!_sendTask.IsCompleted)
                    {
                        Log.CloseTimedOut(_logger, Id, RemoteEndPoint, _options.CloseTimeout);
                    }
                }

                Abort(CloseReason);
            }

            // Both loops catch their own errors; these awaits only wait.
            await _receiveTask.ConfigureAwait(false);
            await _sendTask.ConfigureAwait(false);
        }
        finally
        {
            FinalizeClose();
            completion.TrySetResult();
        }
    }

    private static bool IsGraceful(CloseReason reason) =>
        reason is CloseReason.LocalClose or CloseReason.RemoteClose or CloseReason.ServerShutdown;

    private bool TrySetCloseReason(CloseReason reason, Exception? exception = null)
    {
        if (Interlocked.CompareExchange(ref _closeReason, (int)reason, (int)CloseReason.None) != (int)CloseReason.None)
        {
            return false;
        }

        if (exception is not null)
        {
            Volatile.Write(ref _closeException, exception);
        }

        return true;
    }

    private void MoveToClosing()
    {
        Interlocked.CompareExchange(ref _state, (int)ConnectionState.Closing, (int)ConnectionState.Open);
    }

    private void FinalizeClose()
    {
        lock (_groups)
        {
            // Under the groups lock: a concurrent group join either lands before (and is undone
            // by LeaveAllGroups) or sees _finalized and refuses.
            if (Interlocked.Exchange(ref _finalized, 1) == 1)
            {
                return;
            }
        }

        LeaveAllGroups();

        // Closed already only when Abort closed a connection that never started.
        int previous = Interlocked.Exchange(ref _state, (int)ConnectionState.Closed);
        bool wasStarted = previous is (int)ConnectionState.Open or (int)ConnectionState.Closing;
        _liveness?.Remove(this);

        // Nobody is reading: complete the reader here so the pipe returns its segments. A
        // handler that starts reading after this gets an ended stream, not an error.
        if (Interlocked.CompareExchange(ref _reader, ReaderReleased, ReaderFree) == ReaderFree)
        {
            _input.Reader.Complete();
        }

        if (wasStarted)
        {
            ParleyMetrics.RecordClosed(CloseReason);
            _pool.AdjustRetention(_options.ReadBufferSize, -1);
        }

        Log.ConnectionClosed(_logger, Id, RemoteEndPoint, CloseReason);
        try
        {
            _closedSource.Cancel();
        }
        catch (AggregateException ex)
        {
            // A callback registered on Closed threw; the connection is closed all the same.
            Log.EventHandlerFailed(_logger, ex);
        }
    }

    /// <summary>Called by the liveness monitor: keep-alive when we have been quiet, close when the peer has
    /// or when it left a message unfinished too long.</summary>
    internal void CheckLiveness()
    {
        if (State != ConnectionState.Open)
        {
            return;
        }

        long now = _time.GetTimestamp();
        long incompleteSince = Volatile.Read(ref _incompleteSince);
        if (incompleteSince != 0 && now - incompleteSince >= _incompleteMessageTimeout && _transport.AvailableBytes == 0)
        {
            if (TrySetCloseReason(CloseReason.MessageTimeout) && _peerLog.TryTake(out _))
            {
                Log.MessageTimeout(_logger, Id, RemoteEndPoint, _options.IncompleteMessageTimeout, Volatile.Read(ref _bytesReceived));
            }

            Abort(CloseReason.MessageTimeout);
            return;
        }

        if (now - Volatile.Read(ref _lastReceiveTicks) >= _idleTimeout)
        {
            // Bytes already waiting in the kernel prove the peer alive: only our receive loop is
            // behind (a starved thread pool on a loaded machine), and that is no reason to drop it.
            if (_transport.AvailableBytes > 0)
            {
                Volatile.Write(ref _lastReceiveTicks, now);
                return;
            }

            if (TrySetCloseReason(CloseReason.IdleTimeout))
            {
                Log.IdleTimeout(_logger, Id, RemoteEndPoint, _options.IdleTimeout);
            }

            Abort(CloseReason.IdleTimeout);
            return;
        }

        if (_framer.KeepAliveFrame is { } keepAlive
            && now - Volatile.Read(ref _lastSendTicks) >= _keepAliveInterval
            && _sendQueue.IsEmpty)
        {
            // Stamp now so the next tick does not queue another before this one is written.
            Volatile.Write(ref _lastSendTicks, now);
            EnqueueOwned(keepAlive);
        }
    }

    /// <summary>Sorts an exception from a loop into a close reason and logs unexpected ones.</summary>
    private void OnTransportError(Exception exception)
    {
        if (CloseReason != CloseReason.None)
        {
            // We are closing and tore the transport down ourselves: the error is our doing.
            Abort(CloseReason);
            return;
        }

        switch (exception)
        {
            case SocketException socketError when IsExpected(socketError.SocketErrorCode):
                Log.ConnectionReset(_logger, Id, RemoteEndPoint, socketError.SocketErrorCode.ToString());
                Abort(CloseReason.ConnectionReset, exception);
                break;
            case IOException { InnerException: SocketException socketError } when IsExpected(socketError.SocketErrorCode):
                // Streams (TLS) wrap the socket's error.
                Log.ConnectionReset(_logger, Id, RemoteEndPoint, socketError.SocketErrorCode.ToString());
                Abort(CloseReason.ConnectionReset, exception);
                break;
            case ObjectDisposedException:
                Abort(CloseReason.LocalAbort, exception);
                break;
            case InvalidDataException:
            case IOException { InnerException: InvalidDataException }:
                // The peer broke the transport's own protocol (a corrupt shared-memory ring);
                // a stream decorator (TLS) wraps the inner transport's error in an IOException.
                if (_peerLog.TryTake(out _))
                {
                    Log.ProtocolViolation(_logger, Id, RemoteEndPoint, CloseReason.ProtocolError, exception.Message);
                }

                Abort(CloseReason.ProtocolError, exception);
                break;
            default:
                Log.TransportError(_logger, Id, RemoteEndPoint, exception);
                Abort(CloseReason.TransportError, exception);
                break;
        }
    }

    private static bool IsExpected(SocketError error) => error is SocketError.ConnectionReset
        or SocketError.ConnectionAborted
        or SocketError.Shutdown
        or SocketError.OperationAborted
        or SocketError.Interrupted
        or SocketError.TimedOut
        or SocketError.HostUnreachable
        or SocketError.NetworkReset
        or SocketError.NetworkDown;
}
