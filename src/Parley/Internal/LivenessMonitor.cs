using System.Collections.Concurrent;

namespace Parley.Internal;

/// <summary>
/// One timer for many connections: sends keep-alives on idle ones and closes those the peer
/// stopped talking on. A server has its own; clients share <see cref="Shared"/>.
/// </summary>
internal sealed class LivenessMonitor : IDisposable
{
    private static readonly Lazy<LivenessMonitor> SharedInstance = new(() => new LivenessMonitor(TimeSpan.FromMilliseconds(100)));

    private readonly ConcurrentDictionary<Connection, byte> _connections = new();
    private readonly Timer _timer;

    public LivenessMonitor(TimeSpan period)
    {
        // Timer callbacks never overlap badly: a tick is a quick scan; a slow one just delays the next.
        _timer = new Timer(static state => ((LivenessMonitor)state!).Tick(), this, period, period);
    }

    public static LivenessMonitor Shared => SharedInstance.Value;

    /// <summary>The tick for a server: a quarter of the shortest liveness period, 50 ms to 1 s.</summary>
    public static TimeSpan PeriodFor(ConnectionOptions options)
    {
        TimeSpan shortest = options.KeepAliveInterval;
        if (options.IdleTimeout != Timeout.InfiniteTimeSpan && options.IdleTimeout < shortest)
        {
            shortest = options.IdleTimeout;
        }

        if (options.IncompleteMessageTimeout != Timeout.InfiniteTimeSpan && options.IncompleteMessageTimeout < shortest)
        {
            shortest = options.IncompleteMessageTimeout;
        }

        return TimeSpan.FromTicks(Math.Clamp(shortest.Ticks / 4, TimeSpan.FromMilliseconds(50).Ticks, TimeSpan.FromSeconds(1).Ticks));
    }

    public void Add(Connection connection) => _connections.TryAdd(connection, 0);

    public void Remove(Connection connection) => _connections.TryRemove(connection, out _);

    private void Tick()
    {
        // Each connection reads its own clock (ConnectionOptions.TimeProvider): clients with
        // different clocks share one monitor.
        foreach (KeyValuePair<Connection, byte> entry in _connections)
        {
            entry.Key.CheckLiveness();
        }
    }

    public void Dispose() => _timer.Dispose();
}
