using System.Net;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Parley.Hosting;

/// <summary>
/// A <see cref="ParleyServer"/> run by the host for <typeparamref name="THandler"/> (added with
/// <c>AddParleyServer&lt;THandler&gt;</c>): it listens when the host starts — a port it cannot
/// listen on fails the start — and at the host's stop it stops accepting and lets every
/// connection flush, aborting what is left when <see cref="ParleyListenSettings.ShutdownTimeout"/>
/// or the host's shutdown timeout passes. Inject it to read <see cref="LocalEndPoint"/> or reach
/// the <see cref="Server"/>.
/// </summary>
/// <typeparam name="THandler">The handler run for each connection.</typeparam>
public sealed partial class ParleyServerService<THandler> : IHostedService, IAsyncDisposable
    where THandler : ParleyConnectionHandler
{
    private readonly ParleyServerSettings _settings;
    private readonly THandler _handler;
    private readonly ILoggerFactory _loggers;
    private readonly Action<ParleyServerOptions>? _configure;
    private readonly ILogger _logger;
    private ParleyServer? _server;

    /// <summary>Created by dependency injection.</summary>
    public ParleyServerService(IOptionsMonitor<ParleyServerSettings> settings, THandler handler, ILoggerFactory loggers, ParleyServerRegistration<THandler> registration)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(registration);
        _settings = settings.Get(registration.Name);
        _handler = handler;
        _loggers = loggers;
        _configure = registration.Configure;
        _logger = loggers.CreateLogger<ParleyServerService<THandler>>();
    }

    /// <summary>The running server; null before the host starts it.</summary>
    public ParleyServer? Server => _server;

    /// <summary>Where the server listens (with the port picked for port 0).</summary>
    /// <exception cref="InvalidOperationException">The server has not started.</exception>
    public IPEndPoint LocalEndPoint => _server?.LocalEndPoint ?? throw new InvalidOperationException("The Parley server has not started.");

    /// <summary>True between a successful start and the beginning of the stop.</summary>
    public bool IsListening { get; private set; }

    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        ParleyServerOptions options = ServerFactory.CreateServerOptions(_settings, _loggers);
        options.Framer = ServerFactory.CreateFramer(_settings);
        options.IdleTimeout = _settings.IdleTimeout;
        options.KeepAliveInterval = _settings.KeepAliveInterval;
        _configure?.Invoke(options);
#pragma warning disable CA2000 // Disposed by DisposeAsync (the host disposes its services).
        var server = new ParleyServer(options);
#pragma warning restore CA2000
        try
        {
            server.Start((connection, closed) => _handler.OnConnectedAsync(connection, closed));
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw new InvalidOperationException($"The Parley server for {typeof(THandler).Name} cannot listen on {options.EndPoint}: {ex.Message}", ex);
        }

        _server = server;
        IsListening = true;
        Log.Listening(_logger, typeof(THandler).Name, server.LocalEndPoint);
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_server is { } server)
        {
            IsListening = false;
            Log.Stopping(_logger, typeof(THandler).Name, server.ConnectionCount);
            await server.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_server is { } server)
        {
            await server.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "{Handler} listening on {EndPoint}")]
        public static partial void Listening(ILogger logger, string handler, IPEndPoint endPoint);

        [LoggerMessage(2, LogLevel.Information, "{Handler} stopping: closing {Count} connections")]
        public static partial void Stopping(ILogger logger, string handler, int count);
    }
}

/// <summary>What <c>AddParleyServer&lt;THandler&gt;</c> recorded for its server: the options name
/// (its configuration section's path) and the code that completes its options.</summary>
/// <typeparam name="THandler">The handler the server runs.</typeparam>
public sealed class ParleyServerRegistration<THandler>
    where THandler : ParleyConnectionHandler
{
    internal ParleyServerRegistration(string name, Action<ParleyServerOptions>? configure) => (Name, Configure) = (name, configure);

    /// <summary>The name of the server's <see cref="ParleyServerSettings"/> (its section's path).</summary>
    public string Name { get; }

    internal Action<ParleyServerOptions>? Configure { get; }
}
