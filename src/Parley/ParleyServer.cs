using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Logging;
using Parley.Internal;

namespace Parley;

/// <summary>
/// A message server over any number of transports at once (TCP by default; Unix-domain
/// sockets, shared memory, in process, TLS over any of them: <see cref="ParleyServerOptions.Listeners"/>).
/// Two programming models over one engine:
/// events (<see cref="Start()"/> then <see cref="MessageReceived"/>) or one asynchronous
/// handler per connection (<see cref="Start(ConnectionHandler)"/>).
/// </summary>
/// <remarks>
/// Events are raised on connection threads: <see cref="MessageReceived"/> for one connection
/// runs in order, never concurrently with itself for that connection; different connections
/// run in parallel. <see cref="StopAsync"/> is ordered (stop accepting, flush and close every
/// connection within <see cref="ParleyServerOptions.ShutdownTimeout"/>, release) and idempotent.
/// </remarks>
public sealed partial class ParleyServer : IAsyncDisposable
{
    private readonly ParleyServerOptions _options;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<long, (Connection Connection, Task Run)> _connections = new();
    private readonly CancellationTokenSource _stopping = new();
    private ActiveListener[] _listeners = [];
    private LivenessMonitor? _liveness;
    private ConnectionHandler? _handler;
    private Task _acceptTask = Task.CompletedTask;
    private Task? _stopTask;
    private int _started;
    private readonly AddressCounter _perAddress = new();
    private readonly AddressCounter _handshakesPerAddress = new();
    private readonly LogRateLimiter _refusalLog;
    private readonly LogRateLimiter _peerLog;

    /// <summary>Creates a server; nothing is bound until <see cref="Start()"/>.</summary>
    public ParleyServer(ParleyServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _logger = options.LoggerFactory.CreateLogger<ParleyServer>();
        Everyone = new ConnectionGroup("*", options.Framer, options.BufferPool, options.Middleware);
        _refusalLog = new LogRateLimiter(options.TimeProvider, perSecond: 1, burst: 5);
        _peerLog = new LogRateLimiter(options.TimeProvider);
    }

    /// <summary>TLS handshakes running now, over every listener (for tests and diagnostics).</summary>
    internal int HandshakesInProgress => _listeners.Sum(listener => listener.HandshakesInProgress);

    /// <summary>A connection opened (before any of its messages is delivered).</summary>
    public event Action<Connection>? Connected;

    /// <summary>A message arrived (event model only). See <see cref="MessageHandler"/> for the buffer's lifetime.</summary>
    public event MessageHandler? MessageReceived;

    /// <summary>A connection closed; read <see cref="Connection.CloseReason"/> for why.</summary>
    public event Action<Connection>? Disconnected;

    /// <summary>An application handler or event threw (the connection, when there is one, is closed).</summary>
    public event Action<Connection?, Exception>? Error;

    /// <summary>The bound IP address of the first listener that has one (the TCP listener on
    /// <see cref="ParleyServerOptions.EndPoint"/> by default), with the real port when port 0
    /// was asked for.</summary>
    /// <exception cref="InvalidOperationException">Not started, or no listener has an IP address.</exception>
    public IPEndPoint LocalEndPoint =>
        _listeners.Length == 0
            ? throw new InvalidOperationException("The server is not started.")
            : _listeners.Select(listener => listener.Binding.Listener.LocalEndPoint).OfType<IPEndPoint>().FirstOrDefault()
                ?? throw new InvalidOperationException("No listener of this server has an IP address.");

    /// <summary>The listeners the server accepts from, once started (in the order given).</summary>
    public IReadOnlyList<ConnectionListener> Listeners => _listeners.Select(listener => listener.Binding.Listener).ToArray();

    /// <summary>Connections open now.</summary>
    public int ConnectionCount => _connections.Count;

    /// <summary>A snapshot of the open connections.</summary>
    public IReadOnlyList<Connection> Connections => _connections.Values.Select(entry => entry.Connection).ToArray();

    /// <summary>Triggered when <see cref="StopAsync"/> begins.</summary>
    public CancellationToken Stopping => _stopping.Token;

    /// <summary>Finds an open connection by id.</summary>
    public bool TryGetConnection(long id, out Connection? connection)
    {
        bool found = _connections.TryGetValue(id, out (Connection Connection, Task Run) entry);
        connection = found ? entry.Connection : null;
        return found;
    }

    /// <summary>Binds, listens and starts accepting; messages go to <see cref="MessageReceived"/>.</summary>
    /// <exception cref="System.Net.Sockets.SocketException">An address could not be bound (every listener started is closed again).</exception>
    public void Start() => StartCore(null);

    /// <summary>
    /// Binds, listens and runs <paramref name="handler"/> for every accepted connection (the
    /// asynchronous model). The connection closes gracefully when the handler returns.
    /// </summary>
    public void Start(ConnectionHandler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        StartCore(handler);
    }

    private void StartCore(ConnectionHandler? handler)
    {
        if (Interlocked.Exchange(ref _started, 1) == 1)
        {
            ThrowHelper.ThrowAlreadyStarted();
        }

        _handler = handler;
#pragma warning disable CA2000 // The default listener is owned by the server from here and disposed by StopAsync (or below when a bind fails).
        ListenerBinding[] bindings = _options.Listeners.Count > 0
            ? [.. _options.Listeners]
            : [new ListenerBinding(
                new SocketConnectionListener(_options.EndPoint, SocketTransportOptions.From(_options, _options.ListenBacklog, _options.SharePort)),
                _options.Tls)];
#pragma warning restore CA2000
        var started = new List<ActiveListener>(bindings.Length);
        try
        {
            foreach (ListenerBinding binding in bindings)
            {
                binding.Listener.Start();
                started.Add(new ActiveListener(binding));
            }
        }
        catch
        {
            // All or nothing: a server that cannot bind one of its addresses does not half-start,
            // and the listeners it was given are its own from Start on, started or not.
            foreach (ListenerBinding binding in bindings)
            {
                binding.Listener.Dispose();
            }

            throw;
        }

        _listeners = [.. started];
        _liveness = new LivenessMonitor(LivenessMonitor.PeriodFor(_options), _options.TimeProvider);
        foreach (ActiveListener listener in _listeners)
        {
            Log.ListeningOn(_logger, listener.Binding.Tls is null ? listener.Binding.Listener.Address : $"{listener.Binding.Listener.Address} (TLS)");
        }

        _acceptTask = Task.WhenAll(_listeners.Select(AcceptLoopAsync));
    }

    /// <summary>
    /// Stops accepting, cancels TLS handshakes in progress and waits for them to end (a
    /// handshake that completes after this call began is closed, never registered), closes every
    /// connection gracefully (queued frames are flushed) within
    /// <see cref="ParleyServerOptions.ShutdownTimeout"/>, aborts the rest, and releases
    /// everything. Idempotent: later calls return the same task.
    /// </summary>
    public Task StopAsync(CancellationToken cancellationToken = default)
    {
        lock (_connections)
        {
            _stopTask ??= StopCoreAsync();
        }

        return _stopTask.WaitAsync(cancellationToken);
    }

    private async Task StopCoreAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (ActiveListener listener in _listeners)
        {
            listener.Binding.Listener.Dispose();
        }

        await _acceptTask.ConfigureAwait(false);
        CloseRefusals();
        await WaitForHandshakesAsync().ConfigureAwait(false);

        if (_listeners.Length > 0)
        {
            Log.Stopping(_logger, _connections.Count); // not for a server that never started (it could not bind)
        }

        foreach ((Connection connection, _) in _connections.Values)
        {
            _ = connection.CloseAsync(CloseReason.ServerShutdown);
        }

        Task all = Task.WhenAll(_connections.Values.Select(entry => entry.Run));
        try
        {
            await all.WaitAsync(_options.ShutdownTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Log.ShutdownTimedOut(_logger, _options.ShutdownTimeout, _connections.Count);
            foreach ((Connection connection, _) in _connections.Values)
            {
                connection.Abort(CloseReason.ServerShutdown);
            }

            await Task.WhenAll(_connections.Values.Select(entry => entry.Run)).ConfigureAwait(false);
        }

        _liveness?.Dispose();
    }

    /// <summary>Same as <see cref="StopAsync"/>; safe to call more than once.</summary>
    /// <remarks>The stopping token source is not disposed: it has no timer, so it holds nothing
    /// to release, and <see cref="Stopping"/> stays readable after disposal.</remarks>
    public ValueTask DisposeAsync() => new(StopAsync());
}
