using System.Net;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Parley.Chat;
using Parley.Chat.Nats;

namespace Parley.Hosting;

/// <summary>
/// The chat server run by the host (added with <c>AddParleyChat</c>): at start it opens the data
/// folder (replaying the journal) or joins the cluster, then listens — a damaged journal, a data
/// folder it cannot open, a cluster it cannot reach or a port it cannot listen on fails the
/// host's start with the reason. At the host's stop it stops accepting, flushes every session,
/// and closes the journal: nothing acknowledged is lost. Inject it to read
/// <see cref="LocalEndPoint"/>, <see cref="Chat"/> or <see cref="Server"/>.
/// </summary>
public sealed partial class ParleyChatService : IHostedService, IAsyncDisposable
{
    private readonly ParleyChatSettings _settings;
    private readonly ILoggerFactory _loggers;
    private readonly Action<ChatServerOptions>? _configure;
    private readonly ILogger _logger;
    private ChatServer? _chat;
    private ParleyServer? _server;

    /// <summary>Created by dependency injection.</summary>
    public ParleyChatService(IOptionsMonitor<ParleyChatSettings> settings, ILoggerFactory loggers, ParleyChatRegistration registration)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(registration);
        _settings = settings.Get(registration.Name);
        _loggers = loggers;
        _configure = registration.Configure;
        _logger = loggers.CreateLogger<ParleyChatService>();
    }

    /// <summary>The settings the service runs with.</summary>
    public ParleyChatSettings Settings => _settings;

    /// <summary>The chat server; null before the host starts it.</summary>
    public ChatServer? Chat => _chat;

    /// <summary>The TCP server the sessions come through; null before the host starts it.</summary>
    public ParleyServer? Server => _server;

    /// <summary>The cluster backplane, when <see cref="ParleyChatSettings.Cluster"/> is set.</summary>
    public NatsChatBackplane? Backplane { get; private set; }

    /// <summary>Where the chat server listens (with the port picked for port 0).</summary>
    /// <exception cref="InvalidOperationException">The service has not started.</exception>
    public IPEndPoint LocalEndPoint => _server?.LocalEndPoint ?? throw new InvalidOperationException("The Parley chat server has not started.");

    /// <summary>True between a successful start and the beginning of the stop.</summary>
    public bool IsListening { get; private set; }

    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        ChatServerOptions options = ServerFactory.CreateChatOptions(_settings, _loggers);
        _configure?.Invoke(options);
        if (options.Backplane is null && ServerFactory.CreateBackplaneOptions(_settings, options.MaxJournalBytes, _loggers) is { } cluster)
        {
            cluster.Validate();
#pragma warning disable CA2000 // The chat server owns it once opened.
            Backplane = new NatsChatBackplane(cluster);
#pragma warning restore CA2000
            options.Backplane = Backplane;
        }

        try
        {
#pragma warning disable CA2000 // Disposed at stop (or by DisposeAsync).
            _chat = options.Backplane is null ? ChatServer.Open(options) : await ChatServer.OpenAsync(options, cancellationToken).ConfigureAwait(false);
#pragma warning restore CA2000
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException or ArgumentException or Parley.Journal.JournalDamagedException or ChatBackplaneUnavailableException)
        {
            throw new InvalidOperationException($"The Parley chat server cannot start with the data folder {Path.GetFullPath(options.DataDirectory)}: {ex.Message}", ex);
        }

        ParleyServerOptions server = ServerFactory.CreateServerOptions(_settings, _loggers);
        server.Framer = _chat.Framer;
        server.RefusalMessage = ChatServer.RefusalEvent;
        server.SlowConsumerPolicy = SlowConsumerPolicy.Disconnect;
        server.MaxSendQueueBytes = Math.Max(_settings.MaxSendQueueBytes ?? 1024 * 1024, options.MinSendQueueBytes);

        // People on nc must not see keep-alive lines or be cut off while they read: dead peers are
        // found by TCP keep-alive instead (as parley serve does).
        server.IdleTimeout = Timeout.InfiniteTimeSpan;
        server.KeepAliveInterval = Timeout.InfiniteTimeSpan;
        server.TcpKeepAlive = true;
#pragma warning disable CA2000 // Disposed by DisposeAsync.
        var listening = new ParleyServer(server);
#pragma warning restore CA2000
        ChatServer chat = _chat;
        try
        {
            listening.Start((connection, closed) => chat.RunSessionAsync(connection, closed));
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            await listening.DisposeAsync().ConfigureAwait(false);
            await chat.DisposeAsync().ConfigureAwait(false);
            _chat = null;
            throw new InvalidOperationException($"The Parley chat server cannot listen on {server.EndPoint}: {ex.Message}", ex);
        }

        _server = listening;
        IsListening = true;
        Log.Listening(_logger, listening.LocalEndPoint, Path.GetFullPath(options.DataDirectory), chat.LastMessageId);
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        IsListening = false;
        if (_server is { } server)
        {
            Log.Stopping(_logger, server.ConnectionCount);
            await server.StopAsync(cancellationToken).ConfigureAwait(false);
        }

        if (_chat is { } chat)
        {
            _chat = null;
            await chat.DisposeAsync().ConfigureAwait(false); // everything accepted is in the journal
            Log.Stopped(_logger);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_server is { } server)
        {
            await server.DisposeAsync().ConfigureAwait(false);
        }

        if (_chat is { } chat)
        {
            await chat.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "chat server listening on {EndPoint} (data: {DataDirectory}, last message id: {LastMessageId})")]
        public static partial void Listening(ILogger logger, IPEndPoint endPoint, string dataDirectory, long lastMessageId);

        [LoggerMessage(2, LogLevel.Information, "chat server stopping: closing {Count} sessions")]
        public static partial void Stopping(ILogger logger, int count);

        [LoggerMessage(3, LogLevel.Information, "chat server stopped; journal closed")]
        public static partial void Stopped(ILogger logger);
    }
}

/// <summary>What <c>AddParleyChat</c> recorded: the options name (its section's path) and the code
/// that completes the chat server's options.</summary>
public sealed class ParleyChatRegistration
{
    internal ParleyChatRegistration(string name, Action<ChatServerOptions>? configure) => (Name, Configure) = (name, configure);

    /// <summary>The name of the chat server's <see cref="ParleyChatSettings"/> (its section's path).</summary>
    public string Name { get; }

    internal Action<ChatServerOptions>? Configure { get; }
}
