using System.Collections.Concurrent;

namespace Parley.Internal;

/// <summary>
/// One timer for many connections: sends keep-alives on idle ones and closes those the peer
/// stopped talking on. A server has its own; clients share one per clock (<see cref="For"/>).
/// The timer comes from the connections' <see cref="TimeProvider"/>, so a test that moves a
/// clock by hand also moves the ticks: keep-alives and idle timeouts run on its time, not the wall's.
/// </summary>
internal sealed class LivenessMonitor : IDisposable
{
    private static readonly TimeSpan ClientPeriod = TimeSpan.FromMilliseconds(100);
    private static readonly Lazy<LivenessMonitor> SharedInstance = new(() => new LivenessMonitor(ClientPeriod, TimeProvider.System));
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<TimeProvider, LivenessMonitor> ByClock = [];

    private readonly ConcurrentDictionary<Connection, byte> _connections = new();
    private readonly ITimer _timer;

    public LivenessMonitor(TimeSpan period, TimeProvider timeProvider)
    {
        // Timer callbacks never overlap badly: a tick is a quick scan; a slow one just delays the next.
        _timer = timeProvider.CreateTimer(static state => ((LivenessMonitor)state!).Tick(), this, period, period);
    }

    /// <summary>The monitor clients on <paramref name="timeProvider"/> share: one for the system clock, one per other clock (as long as that clock lives).</summary>
    public static LivenessMonitor For(TimeProvider timeProvider) =>
        timeProvider == TimeProvider.System ? SharedInstance.Value : ByClock.GetValue(timeProvider, static clock => new LivenessMonitor(ClientPeriod, clock));

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
