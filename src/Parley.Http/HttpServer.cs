using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Parley.Http;

/// <summary>
/// An HTTP/1.1 server on Parley's transport seam: it accepts from any
/// <see cref="ConnectionListener"/> (TCP, Unix sockets, TLS, shared memory, in-process) and
/// answers with the handlers mounted on its <see cref="HttpServerOptions"/>. Keep-alive and
/// pipelining (responses in request order, sent together), HTTP/1.0 with and without
/// keep-alive, request bodies read past, every limit enforced with its status (400, 408, 413,
/// 414, 431, 501, 505) and only the offending connection closed.
/// </summary>
/// <remarks>Start once, stop once. Thread-safe.</remarks>
public sealed class HttpServer : IAsyncDisposable
{
    private readonly ConcurrentDictionary<HttpConnection, Task> _connections = new();
    private const int MaxPooledContexts = 1024;
    private readonly ConcurrentQueue<HttpContext> _contexts = new();
    private readonly List<Task> _acceptLoops = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly LogRateLimiter _refusalLog;
    private ITimer? _heartbeat;
    private int _connectionCount;
    private readonly Parley.Internal.AddressCounter _perAddress = new();
    private int _pooledContexts;
    private int _state; // 0 new, 1 started, 2 stopped

    /// <summary>Creates a server; nothing listens until <see cref="StartAsync"/>.</summary>
    public HttpServer(HttpServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        Logger = options.LoggerFactory?.CreateLogger("Parley.Http.HttpServer") ?? NullLogger.Instance;
        Parser = new HttpRequestParser(options.MaxRequestLineLength, options.MaxHeadSize, options.MaxHeaderCount);
        Date = new DateHeader(options.TimeProvider);
        Routes = [.. options.Routes.OrderByDescending(route => route.Prefix.Length)];
        _refusalLog = new LogRateLimiter(options.TimeProvider);
    }

    /// <summary>Connections open now.</summary>
    public int ConnectionCount => Volatile.Read(ref _connectionCount);

    /// <summary>Where the listeners listen, once started (with the real port when 0 was asked for).</summary>
    public IReadOnlyList<EndPoint?> EndPoints => [.. Options.Listeners.Select(listener => listener.LocalEndPoint)];

    internal HttpServerOptions Options { get; }

    /// <summary>Stopping: responses close their connections, idle ones close.</summary>
    internal bool IsStopping => _stopping.IsCancellationRequested;

    internal ILogger Logger { get; }

    internal HttpRequestParser Parser { get; }

    internal DateHeader Date { get; }

    internal (string Prefix, HttpHandler Handler)[] Routes { get; }

    /// <summary>Starts every listener and accepts on each. A listener that fails to start
    /// (address in use) stops those already started and throws.</summary>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            throw new InvalidOperationException("The server was started already.");
        }

        cancellationToken.ThrowIfCancellationRequested();
        int started = 0;
        try
        {
            foreach (ConnectionListener listener in Options.Listeners)
            {
                listener.Start();
                started++;
            }
        }
        catch
        {
            foreach (ConnectionListener listener in Options.Listeners.Take(started))
            {
                listener.Dispose();
            }

            Volatile.Write(ref _state, 2);
            throw;
        }

        foreach (ConnectionListener listener in Options.Listeners)
        {
            Log.Listening(Logger, listener.Address);
            _acceptLoops.Add(AcceptLoopAsync(listener));
        }

        _heartbeat = Options.TimeProvider.CreateTimer(_ => Heartbeat(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        return Task.CompletedTask;
    }

    /// <summary>
    /// Stops accepting, closes idle connections at once, lets requests under way finish until
    /// <paramref name="cancellationToken"/> is cancelled, then aborts the rest.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _state, 2) != 1)
        {
            return;
        }

        Log.Stopping(Logger, ConnectionCount);
        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (ConnectionListener listener in Options.Listeners)
        {
            listener.Dispose();
        }

        await Task.WhenAll(_acceptLoops).ConfigureAwait(false);

        // Idle connections close now; the others close after the response under way (their
        // responses say "Connection: close"), or are aborted when the caller's time is up.
        foreach (HttpConnection connection in _connections.Keys)
        {
            connection.CloseIfIdle();
        }

        Task all = Task.WhenAll(_connections.Values);
        try
        {
            await all.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            foreach (HttpConnection connection in _connections.Keys)
            {
                if (!connection.IsDetached)
                {
                    connection.Transport.Dispose(); // a switched connection is no longer ours to close
                }
            }

            await all.ConfigureAwait(false);
        }
        finally
        {
            // Only now: until every connection has ended, its timeouts (a half-sent head, a
            // linger, a peer not reading) must still fire, or one silent peer holds the stop.
            if (_heartbeat is not null)
            {
                await _heartbeat.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Stops at once (<see cref="StopAsync"/> with nothing allowed to finish).</summary>
    public async ValueTask DisposeAsync()
    {
        using var now = new CancellationTokenSource();
        await now.CancelAsync().ConfigureAwait(false);
        await StopAsync(now.Token).ConfigureAwait(false);
        _stopping.Dispose();
    }

    private async Task AcceptLoopAsync(ConnectionListener listener)
    {
        await Task.Yield(); // StartAsync returns before the first accept completes
        while (!_stopping.IsCancellationRequested)
        {
            Transport transport;
            try
            {
                transport = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (HttpConnection.IsDisconnect(ex))
            {
                continue; // a peer that left in the accept queue
            }
            catch (Exception ex)
            {
                Log.AcceptFailed(Logger, listener.Address, ex);
                return;
            }

            if (Interlocked.Increment(ref _connectionCount) > Options.MaxConnections)
            {
                Interlocked.Decrement(ref _connectionCount);
                if (_refusalLog.TryTake(out long suppressed))
                {
                    Log.ConnectionRefused(Logger, transport.RemoteEndPoint, Options.MaxConnections, suppressed);
                }

                HttpConnection.CloseQuietly(transport); // a FIN, not a reset
                continue;
            }

            UInt128? address = Options.MaxConnectionsPerAddress > 0 ? Parley.Internal.AddressCounter.KeyOf(transport.RemoteEndPoint) : null;
            if (address is not null && !_perAddress.TryAcquire(address, Options.MaxConnectionsPerAddress))
            {
                Interlocked.Decrement(ref _connectionCount);
                if (_refusalLog.TryTake(out long suppressed))
                {
                    Log.AddressRefused(Logger, transport.RemoteEndPoint, Options.MaxConnectionsPerAddress, suppressed);
                }

                HttpConnection.CloseQuietly(transport);
                continue;
            }

            var connection = new HttpConnection(this, transport) { AddressKey = address };
            var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _connections[connection] = started.Task.ContinueWith(_ => connection.RunAsync(), TaskScheduler.Default).Unwrap();
            started.SetResult();
        }
    }

    private void Heartbeat()
    {
        Date.Refresh(Options.TimeProvider.GetUtcNow());
        long now = Options.TimeProvider.GetTimestamp();
        bool stopping = IsStopping;
        foreach (HttpConnection connection in _connections.Keys)
        {
            if (stopping)
            {
                connection.CloseIfIdle(); // one that went idle after the stop's own sweep
            }

            connection.CheckTimeout(now);
        }
    }

    /// <summary>Each open connection's phase, for tests and diagnostics.</summary>
    internal IReadOnlyList<string> DescribeConnections() => [.. _connections.Keys.Select(connection => connection.Phase.ToString())];

    internal void Remove(HttpConnection connection)
    {
        if (_connections.TryRemove(connection, out _))
        {
            _perAddress.Release(connection.AddressKey);
            Interlocked.Decrement(ref _connectionCount);
        }
    }

    // A connection holds a context (the head's field table, the decoded path) only while a
    // request is in its buffer; idle connections give it back, and up to a thousand wait here.
    internal HttpContext RentContext(HttpResponse response)
    {
        if (!_contexts.TryDequeue(out HttpContext? context))
        {
            context = new HttpContext(new HttpRequestHead(Options.MaxHeaderCount));
        }
        else
        {
            Interlocked.Decrement(ref _pooledContexts);
        }

        context.Response = response;
        return context;
    }

    internal void ReturnContext(HttpContext context)
    {
        context.Release();
        if (Interlocked.Increment(ref _pooledContexts) <= MaxPooledContexts)
        {
            _contexts.Enqueue(context);
        }
        else
        {
            Interlocked.Decrement(ref _pooledContexts);
        }
    }
}
