using System.Buffers;

namespace Parley.Http;

internal sealed partial class HttpConnection
{
    /// <summary>Enters a waiting phase from <see cref="ConnectionPhase.Busy"/> (only this loop does).</summary>
    private void Wait(ConnectionPhase phase, TimeSpan timeout) => WaitUntil(phase, Deadline(timeout));

    private void WaitUntil(ConnectionPhase phase, long deadline)
    {
        Volatile.Write(ref _deadline, deadline);

        // A full fence, not a release: entering Idle is followed by a read of the server's
        // stopping flag, and the stop sets that flag and then reads this phase. With only
        // release/acquire both could miss the other's write (a store-load reorder).
        Interlocked.Exchange(ref _phase, (int)phase);
    }

    /// <summary>Leaves a waiting phase for <see cref="ConnectionPhase.Busy"/>; false when the heartbeat took the connection first.</summary>
    private bool TryLeave(ConnectionPhase expected) =>
        Interlocked.CompareExchange(ref _phase, (int)ConnectionPhase.Busy, (int)expected) == (int)expected;

    private long Deadline(TimeSpan timeout) =>
        _options.TimeProvider.GetTimestamp() + (long)(timeout.TotalSeconds * _options.TimeProvider.TimestampFrequency);

    internal void BeginSend() => Wait(ConnectionPhase.Sending, _options.SendTimeout);

    internal bool EndSend() => TryLeave(ConnectionPhase.Sending);

    /// <summary>Closes with a FIN (then the close), not a reset: for connections ended with
    /// nothing unread and nothing owed, an idle one or one over the limit.</summary>
    internal static void CloseQuietly(Transport transport)
    {
        ValueTask shutdown = transport.ShutdownSendAsync();
        if (shutdown.IsCompleted)
        {
            transport.Dispose();
            return;
        }

        _ = shutdown.AsTask().ContinueWith(static (_, state) => ((Transport)state!).Dispose(), transport, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
    }

    /// <summary>The server is stopping: an idle connection ends now.</summary>
    internal void CloseIfIdle()
    {
        if (Interlocked.CompareExchange(ref _phase, (int)ConnectionPhase.Closed, (int)ConnectionPhase.Idle) == (int)ConnectionPhase.Idle)
        {
            CloseQuietly(_transport);
        }
    }

    /// <summary>The heartbeat's check, once a second: ends what waited past its deadline.</summary>
    internal void CheckTimeout(long now)
    {
        var phase = (ConnectionPhase)Volatile.Read(ref _phase);
        if (phase is ConnectionPhase.Busy or ConnectionPhase.Closed || now < Volatile.Read(ref _deadline))
        {
            return;
        }

        if (phase is ConnectionPhase.Head or ConnectionPhase.Body)
        {
            if (Interlocked.CompareExchange(ref _phase, (int)ConnectionPhase.TimedOut, (int)phase) == (int)phase)
            {
                Volatile.Write(ref _deadline, Deadline(_options.SendTimeout));
                _ = AnswerTimeoutAsync();
            }

            return;
        }

        if (Interlocked.CompareExchange(ref _phase, (int)ConnectionPhase.Closed, (int)phase) == (int)phase)
        {
            if (phase is ConnectionPhase.Sending or ConnectionPhase.TimedOut)
            {
                Log.SendTimedOut(_server.Logger, _transport.RemoteEndPoint);
            }

            if (phase == ConnectionPhase.Idle)
            {
                CloseQuietly(_transport); // a FIN first: an idle close is routine, not a reset
            }
            else
            {
                _transport.Dispose(); // lingering or not reading: the pending operation ends
            }
        }
    }

    // 408 from the heartbeat's side while the loop waits in a receive: the send direction is
    // free, the loop will find the phase changed and linger.
    private async Task AnswerTimeoutAsync()
    {
        Log.RequestRejected(_server.Logger, 408, "The request head did not arrive in time.", _transport.RemoteEndPoint);
        byte[] response = ArrayPool<byte>.Shared.Rent(512);
        try
        {
            int length = 0;
            Append(response, ref length, StatusLines.Get(408));
            Append(response, ref length, _server.Date.Line);
            Append(response, ref length, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 57\r\nConnection: close\r\n\r\n"u8);
            Append(response, ref length, "408 Request Timeout: the request did not arrive in time.\n"u8);
            await _transport.SendAsync(response.AsMemory(0, length)).ConfigureAwait(false);
            await _transport.ShutdownSendAsync().ConfigureAwait(false);
            Volatile.Write(ref _deadline, Deadline(_options.LingerTimeout));
            Interlocked.CompareExchange(ref _phase, (int)ConnectionPhase.Lingering, (int)ConnectionPhase.TimedOut);
        }
        catch (Exception ex) when (IsDisconnect(ex))
        {
            _transport.Dispose();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(response);
        }

        static void Append(byte[] buffer, ref int length, ReadOnlySpan<byte> bytes)
        {
            bytes.CopyTo(buffer.AsSpan(length));
            length += bytes.Length;
        }
    }
}
