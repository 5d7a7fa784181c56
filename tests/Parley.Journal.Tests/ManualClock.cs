namespace Parley.Journal.Tests;

/// <summary>A clock the test moves by hand (the journal reads time; it sets no timers).</summary>
internal sealed class ManualClock : TimeProvider
{
    private long _ticks = DateTimeOffset.UtcNow.UtcTicks;

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

    public override long GetTimestamp() => Interlocked.Read(ref _ticks);

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        throw new NotSupportedException("the journal sets no timers");

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}
