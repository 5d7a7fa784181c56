using System.Net;
using Parley.Internal;

namespace Parley;

public sealed partial class ParleyServer
{
    // TLS handshakes in flight. The accept loop adds each one before it looks for the next
    // socket, so once the loop has ended StopAsync sees every handshake that will ever run.
    private readonly HashSet<Task> _handshakeTasks = [];

    /// <summary>TLS handshake tasks that have not ended yet (for tests and diagnostics).</summary>
    internal int HandshakeTasksInFlight
    {
        get
        {
            lock (_handshakeTasks)
            {
                return _handshakeTasks.Count;
            }
        }
    }

    /// <summary>Runs the TLS handshake over <paramref name="transport"/>, tracked until it ends so that <see cref="StopAsync"/> can wait for it.</summary>
    private void StartHandshake(Transport transport, ActiveListener listener, UInt128? address)
    {
        Task handshake = AcceptTlsAsync(transport, listener, address);
        lock (_handshakeTasks)
        {
            _handshakeTasks.Add(handshake);
        }

        // Runs at once when the handshake already ended; removal always follows the add.
        _ = handshake.ContinueWith(
            static (task, state) => ((ParleyServer)state!).OnHandshakeEnded(task),
            this,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    private void OnHandshakeEnded(Task handshake)
    {
        if (handshake.Exception is { } failure)
        {
            // AcceptTlsAsync handles the expected failures itself; anything else ends here, logged, not unobserved.
            Log.TlsHandshakeFailed(_logger, null, failure.InnerException?.Message ?? failure.Message);
        }

        lock (_handshakeTasks)
        {
            _handshakeTasks.Remove(handshake);
        }
    }

    /// <summary>
    /// Registers the connection of a completed handshake, unless <see cref="StopAsync"/> has
    /// begun: then the transport is closed and no connection ever appears. True when registered.
    /// </summary>
    private bool AcceptHandshaken(TlsTransport transport, EndPoint? remote, UInt128? address)
    {
        // StopAsync marks the stopping token under this lock (CancelAsync sets the state before
        // it returns), so a handshake that completes at the same moment either registers before
        // StopAsync looks at the connections, or not at all.
        lock (_connections)
        {
            if (!_stopping.IsCancellationRequested)
            {
                Accept(transport, address);
                return true;
            }
        }

        Log.TlsHandshakeEndedAfterStop(_logger, remote);
        ParleyMetrics.ConnectionsClosed.Add(1, new KeyValuePair<string, object?>("reason", "server_shutdown"));
        transport.Dispose();
        return false;
    }

    /// <summary>
    /// Waits for the handshakes in flight when stopping began (the stopping token has cancelled
    /// them), within <see cref="ParleyServerOptions.ShutdownTimeout"/>: a certificate callback
    /// that never returns cannot hold StopAsync forever, and its handshake, if it ever
    /// completes, is closed by <see cref="AcceptHandshaken"/>.
    /// </summary>
    private async Task WaitForHandshakesAsync()
    {
        Task[] pending;
        lock (_handshakeTasks)
        {
            pending = [.. _handshakeTasks];
        }

        if (pending.Length == 0)
        {
            return;
        }

        Log.WaitingForHandshakes(_logger, pending.Length);
        Task all = Task.WhenAll(pending);

        // Failures were logged by OnHandshakeEnded; only whether they ended matters here.
        await all.WaitAsync(_options.ShutdownTimeout).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (!all.IsCompleted)
        {
            Log.HandshakesOutlivedShutdown(_logger, _options.ShutdownTimeout, HandshakeTasksInFlight);
        }
    }
}
