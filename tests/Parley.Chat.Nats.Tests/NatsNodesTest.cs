using Parley.Chat.Tests;

namespace Parley.Chat.Nats.Tests;

/// <summary>
/// A test with a nats-server of its own and chat nodes (in this process) on it, each with its
/// backplane; all stopped at the end. Without nats-server installed (outside CI) <see cref="Nats"/>
/// is null and the tests return at once.
/// </summary>
public abstract class NatsNodesTest : IAsyncLifetime
{
    private readonly List<ChatHarness> _nodes = [];

    internal NatsServer? Nats { get; private set; }

    internal List<NatsChatBackplane> Backplanes { get; } = [];

    public async Task InitializeAsync() => Nats = await NatsServer.StartAsync();

    public async Task DisposeAsync()
    {
        foreach (ChatHarness node in _nodes)
        {
            await node.DisposeAsync();
        }

        if (Nats is not null)
        {
            await Nats.DisposeAsync();
        }
    }

    /// <summary>Short beats and deadlines (a busy CI machine must still not make a live node look dead).</summary>
    internal NatsChatBackplaneOptions BackplaneOptions(string name) => new()
    {
        Url = Nats!.Url,
        NodeName = name,
        HeartbeatInterval = TimeSpan.FromMilliseconds(250),
        NodeTimeout = TimeSpan.FromSeconds(3),
        PublishTimeout = TimeSpan.FromSeconds(2),
        ConnectTimeout = TimeSpan.FromSeconds(5),
    };

    /// <summary>A stored record as a node writes it (the journal's record format).</summary>
    internal static byte[] Record(string room, string user, string content)
    {
        byte[] buffer = new byte[ChatRecord.MaxLength(System.Text.Encoding.UTF8.GetByteCount(content))];
        return buffer[..ChatRecord.Write(buffer, room, user, content)];
    }

    internal async Task<ChatHarness> StartNodeAsync(string name, Action<ChatServerOptions>? configure = null, Action<NatsChatBackplaneOptions>? configureBackplane = null)
    {
        NatsChatBackplaneOptions backplaneOptions = BackplaneOptions(name);
        configureBackplane?.Invoke(backplaneOptions);
        var backplane = new NatsChatBackplane(backplaneOptions);
        ChatHarness node = await ChatHarness.StartAsync(options =>
        {
            options.Backplane = backplane;
            configure?.Invoke(options);
        });
        _nodes.Add(node);
        Backplanes.Add(backplane);
        return node;
    }
}

/// <summary>The lines a node (and NATS.Net in it) logs at <paramref name="least"/> or above.</summary>
internal sealed class LogLines(Microsoft.Extensions.Logging.LogLevel least) : Microsoft.Extensions.Logging.ILoggerFactory, Microsoft.Extensions.Logging.ILogger
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _lines = new();

    public IEnumerable<string> Lines => _lines;

    public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => this;

    public void AddProvider(Microsoft.Extensions.Logging.ILoggerProvider provider)
    {
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => logLevel >= least;

    public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
        {
            _lines.Enqueue(formatter(state, exception));
        }
    }

    public void Dispose()
    {
    }
}
