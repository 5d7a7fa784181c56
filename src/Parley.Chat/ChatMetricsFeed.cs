namespace Parley.Chat;

/// <summary>
/// Live figures pushed to the sessions that asked for them (<c>watch_metrics</c>), for a
/// dashboard: the publisher (the host, which knows its listeners, its process and its meters)
/// calls <see cref="Publish"/> with each encoded <c>metrics</c> event and keeps
/// <see cref="History"/> up to date; a session that starts watching gets the history first, then
/// every event, each encoded once and shared by all watchers. A watcher that falls behind is
/// a slow consumer like any other session. Thread-safe.
/// </summary>
public sealed class ChatMetricsFeed
{
    private readonly Lock _lock = new();
    private ConnectionGroup? _watchers;
    private byte[] _history = """{"_et":"metrics_history","interval":1,"samples":[]}"""u8.ToArray();

    /// <summary>Sessions watching now.</summary>
    public int WatcherCount => Volatile.Read(ref _watchers)?.Count ?? 0;

    /// <summary>
    /// The <c>metrics_history</c> event a new watcher gets first (the publisher replaces it as it
    /// goes; the array is kept, not copied, so give a new one each time).
    /// </summary>
    public byte[] History
    {
        get => Volatile.Read(ref _history);
        set => Volatile.Write(ref _history, value ?? throw new ArgumentNullException(nameof(value)));
    }

    /// <summary>Sends one encoded <c>metrics</c> event to every watcher; returns how many queued it.</summary>
    public int Publish(ReadOnlySpan<byte> metricsEvent) => Volatile.Read(ref _watchers)?.Broadcast(metricsEvent) ?? 0;

    /// <summary>The server's framer, once it opens (a feed serves one server).</summary>
    internal void Attach(MessageFramer framer)
    {
        lock (_lock)
        {
            if (_watchers is not null)
            {
                throw new InvalidOperationException("A metrics feed serves one chat server.");
            }

            _watchers = new ConnectionGroup("metrics watchers", framer);
        }
    }

    internal void Watch(Connection connection)
    {
        ConnectionGroup watchers = Volatile.Read(ref _watchers) ?? throw new InvalidOperationException("The feed is not attached to a server.");
        if (!watchers.Contains(connection))
        {
            connection.Send(History);
            watchers.Add(connection);
        }
    }

    internal void Unwatch(Connection connection) => Volatile.Read(ref _watchers)?.Remove(connection);
}
