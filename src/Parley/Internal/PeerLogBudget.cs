namespace Parley.Internal;

/// <summary>
/// The budget for log lines that peers provoke on their own connections (protocol violations,
/// unfinished messages) for connections outside a server (clients share it; each server has
/// its own): a flood of bad peers writes a few lines a second, not one per peer. Held-back lines are counted by the limiter and not reported per connection; the
/// metrics (<c>parley.connections.closed</c> by reason) still count every one.
/// </summary>
internal static class PeerLogBudget
{
    public static LogRateLimiter Shared { get; } = new(TimeProvider.System, perSecond: 10, burst: 20);
}
