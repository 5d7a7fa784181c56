using System.Buffers;
using Microsoft.Extensions.Logging;
using Parley.Internal;

namespace Parley;

/// <summary>
/// A message client over TCP (or any <see cref="ConnectionDialer"/>, with TLS over it when asked) with the same framing, send queue and liveness as the server
/// side, in the event model, with optional automatic reconnect. For the asynchronous model,
/// <see cref="OpenConnectionAsync"/> returns a connection to read with
/// <see cref="Connection.ReadMessagesAsync"/>.
/// </summary>
/// <remarks>
/// <see cref="MessageReceived"/> runs on the connection's receive loop, in order. After a
/// reconnect, <see cref="Connection"/> is a new object; frames queued on the lost one are gone
/// (a message protocol that needs them resends at the application level).
/// </remarks>
public sealed class ParleyClient : IAsyncDisposable
{
    private readonly ParleyClientOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private Connection? _current;
    private Task _runTask = Task.CompletedTask;
    private int _started;

    /// <summary>Creates a client; nothing connects until <see cref="ConnectAsync"/>.</summary>
    public ParleyClient(ParleyClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _logger = options.LoggerFactory.CreateLogger<ParleyClient>();
    }

    /// <summary>Connected (first time and after each reconnect).</summary>
    public event Action<Connection>? Connected;

    /// <summary>A message arrived. See <see cref="MessageHandler"/> for the buffer's lifetime.</summary>
    public event MessageHandler? MessageReceived;

    /// <summary>The connection closed; <see cref="Connection.CloseReason"/> says why.</summary>
    public event Action<Connection>? Disconnected;

    /// <summary>
    /// An event handler threw (the connection is closed), or, with
    /// <see cref="ParleyClientOptions.AutoReconnect"/>, a reconnect attempt failed (the connection
    /// argument is null): refused, timed out, a TLS handshake refused
    /// (<see cref="System.Security.Authentication.AuthenticationException"/>) or cut
    /// (<see cref="IOException"/>), whatever the cause. Every failed attempt is reported and the
    /// next one follows the back-off; after <see cref="ParleyClientOptions.ReconnectMaxAttempts"/>
    /// failures a last <see cref="ConnectionClosedException"/> (the final failure as its inner
    /// exception) says the client has given up. Only <see cref="DisconnectAsync"/> ends reconnecting
    /// earlier.
    /// </summary>
    public event Action<Connection?, Exception>? Error;

    /// <summary>The current connection, or null before the first connect.</summary>
    public Connection? Connection => Volatile.Read(ref _current);

    /// <summary>True while the current connection is open.</summary>
    public bool IsConnected => Connection?.State == ConnectionState.Open;

    /// <summary>
    /// Connects once (within <see cref="ParleyClientOptions.ConnectTimeout"/>) and starts
    /// dispatching messages. Reconnects later, when enabled, after the connection is lost.
    /// </summary>
    /// <exception cref="TimeoutException">The connect timed out.</exception>
    /// <exception cref="System.Net.Sockets.SocketException">The connect failed (refused, unreachable).</exception>
    public async Task ConnectAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _started, 1) == 1)
        {
            ThrowHelper.ThrowAlreadyStarted();
        }

#pragma warning disable CA2000 // RunAsync owns the connection and closes it.
        Connection connection = await ConnectCoreAsync(_options, cancellationToken).ConfigureAwait(false);
#pragma warning restore CA2000
        Volatile.Write(ref _current, connection);
        _runTask = RunAsync(connection);
    }

    /// <summary>Sends on the current connection; <see cref="SendStatus.Closed"/> when there is none.</summary>
    public SendStatus Send(ReadOnlySpan<byte> payload) => Connection is { } connection ? connection.Send(payload) : SendStatus.Closed;

    /// <summary>Sends on the current connection with backpressure (see <see cref="Parley.Connection.SendAsync"/>).</summary>
    public ValueTask SendAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default) =>
        Connection is { } connection
            ? connection.SendAsync(payload, cancellationToken)
            : ValueTask.FromException(new ConnectionClosedException(CloseReason.None));

    /// <summary>Closes gracefully (queued frames are flushed) and stops reconnecting. Idempotent.</summary>
    public async Task DisconnectAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (Connection is { } connection)
        {
            await connection.CloseAsync().ConfigureAwait(false);
        }

        await _runTask.ConfigureAwait(false);
    }

    /// <summary>Same as <see cref="DisconnectAsync"/>; safe to call more than once.</summary>
    /// <remarks>The stopping token source is not disposed: it has no timer, so it holds nothing
    /// to release, and a second disposal must not throw.</remarks>
    public ValueTask DisposeAsync() => new(DisconnectAsync());

    /// <summary>
    /// Opens one connection for the asynchronous model: read it with
    /// <see cref="Parley.Connection.ReadMessagesAsync"/>, send with
    /// <see cref="Parley.Connection.SendAsync"/>, and dispose it when done. No reconnect.
    /// </summary>
    public static async Task<Connection> OpenConnectionAsync(ParleyClientOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Connection connection = await ConnectCoreAsync(options, cancellationToken).ConfigureAwait(false);
        connection.TryStart();
        return connection;
    }

    private static async Task<Connection> ConnectCoreAsync(ParleyClientOptions options, CancellationToken cancellationToken)
    {
        ConnectionDialer dialer = options.EffectiveDialer;
        Transport transport;
        using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            deadline.CancelAfter(options.ConnectTimeout);
            try
            {
                transport = await dialer.ConnectAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"Connecting to {dialer.Address} timed out after {options.ConnectTimeout}.");
            }
        }

        if (options.Tls is { } tls)
        {
            using var handshake = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            handshake.CancelAfter(tls.HandshakeTimeout);
            try
            {
                string host = tls.TargetHost ?? dialer.Host
                    ?? throw new ArgumentException($"TLS over {dialer.Address} needs Tls.TargetHost: the name the server's certificate must carry.", nameof(options));
#pragma warning disable CA2000 // The connection below owns the secured transport.
                transport = await TlsTransport.AuthenticateAsClientAsync(transport, tls, host, handshake.Token).ConfigureAwait(false);
#pragma warning restore CA2000
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                transport.Dispose();
                throw new TimeoutException($"The TLS handshake with {dialer.Address} did not complete within {tls.HandshakeTimeout}.");
            }
            catch
            {
                transport.Dispose(); // the handshake disposes it on its own failures; this covers the rest (idempotent)
                throw;
            }
        }

#pragma warning disable CA2000 // The connection owns the transport.
        return new Connection(transport, options, LivenessMonitor.For(options.TimeProvider));
#pragma warning restore CA2000
    }

    private async Task RunAsync(Connection connection)
    {
        while (true)
        {
            await RunConnectionAsync(connection).ConfigureAwait(false);
            if (!_options.AutoReconnect
                || _stopping.IsCancellationRequested
                || connection.CloseReason is CloseReason.LocalClose or CloseReason.LocalAbort)
            {
                return;
            }

            Connection? next = await ReconnectAsync().ConfigureAwait(false);
            if (next is null)
            {
                return;
            }

            // Publish, then look at the stopping token (a full fence between the two): DisconnectAsync
            // cancels, then closes the current connection, so either it closes this one or we see it
            // stopping here. A connection opened just as the client was disposed is never left running.
            Interlocked.Exchange(ref _current, next);
            if (_stopping.IsCancellationRequested)
            {
                await next.CloseAsync().ConfigureAwait(false);
                return;
            }

            connection = next;
        }
    }

    private async Task RunConnectionAsync(Connection connection)
    {
        if (!connection.TryStart())
        {
            return;
        }

        try
        {
            Connected?.Invoke(connection);
            await connection.PumpMessagesAsync(OnMessage).ConfigureAwait(false);
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
            try
            {
                Disconnected?.Invoke(connection);
            }
            catch (Exception ex)
            {
                RaiseError(connection, ex);
            }
        }
    }

    private void OnMessage(Connection connection, ReadOnlySequence<byte> message) => MessageReceived?.Invoke(connection, message);

    private async Task<Connection?> ReconnectAsync()
    {
        string remote = _options.EffectiveDialer.Address;
        TimeSpan delay = _options.ReconnectInitialDelay;
        Exception? last = null;
        for (int attempt = 1; attempt <= _options.ReconnectMaxAttempts; attempt++)
        {
            // Jitter (±20 %) keeps a crowd of clients from reconnecting in lockstep.
            TimeSpan jittered = delay * (0.8 + (0.4 * Random.Shared.NextDouble()));
            Log.Reconnecting(_logger, remote, jittered, attempt);
            try
            {
                await Task.Delay(jittered, _stopping.Token).ConfigureAwait(false);
                return await ConnectCoreAsync(_options, _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return null;
            }
            catch (Exception ex)
            {
                // Every failure is one failed attempt, reported and retried: a refusal or a timeout,
                // and as much a TLS handshake the server cut (IOException) or the client refused
                // (AuthenticationException). Only DisconnectAsync, or the attempt limit, ends the loop.
                last = ex;
                Log.ConnectFailed(_logger, remote, ex.Message);
                RaiseError(null, ex);
            }

            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.ReconnectMaxDelay.Ticks));
        }

        Log.ReconnectGaveUp(_logger, remote, _options.ReconnectMaxAttempts);
        RaiseError(null, new ConnectionClosedException(
            $"Gave up reconnecting to {remote} after {_options.ReconnectMaxAttempts} failed attempts; the last failure is the inner exception.",
            last!));
        return null;
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
