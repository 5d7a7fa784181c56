namespace Parley.Cli.Chat;

/// <summary>
/// How long the chat client waits before each reconnect attempt: 1 s, doubling, at most 16 s
/// apart. The default 5 attempts span 31 s (1 + 2 + 4 + 8 + 16): long enough for a server to
/// restart, short enough that a person at a dead prompt is told soon.
/// </summary>
internal static class ReconnectSchedule
{
    /// <summary>Attempts after a lost connection unless <c>--reconnect-attempts</c> says otherwise.</summary>
    public const int DefaultAttempts = 5;

    /// <summary>The most <c>--reconnect-attempts</c> accepts (about 5 minutes of trying).</summary>
    public const int MaxAttempts = 20;

    private static readonly TimeSpan First = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Longest = TimeSpan.FromSeconds(16);

    /// <summary>The wait before attempt <paramref name="attempt"/> (1-based).</summary>
    public static TimeSpan DelayBefore(int attempt)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(attempt);
        int doublings = Math.Min(attempt - 1, 30);
        long ticks = First.Ticks << doublings;
        return ticks > Longest.Ticks || ticks <= 0 ? Longest : TimeSpan.FromTicks(ticks);
    }
}
