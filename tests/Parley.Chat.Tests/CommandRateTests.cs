using Parley.Tests;

namespace Parley.Chat.Tests;

/// <summary>The per-connection command rate (a token bucket), on a clock the test moves.</summary>
public class CommandRateTests
{
    [Fact]
    public void Past_the_burst_a_session_waits_for_a_tenth_of_a_seconds_worth_at_a_time_and_keeps_the_rate()
    {
        var time = new ManualTime();
        var session = new Session(null!, "s-1", time, commandsPerSecond: 100);
        for (int i = 0; i < 100; i++)
        {
            Assert.Equal(TimeSpan.Zero, session.TakeCommandToken()); // a second's worth at once
        }

        // The 101st waits for its own token and nine more: one timer per ten commands, not per command.
        Assert.Equal(TimeSpan.FromMilliseconds(100), session.TakeCommandToken());
        time.Advance(TimeSpan.FromMilliseconds(100));
        for (int i = 0; i < 9; i++)
        {
            Assert.Equal(TimeSpan.Zero, session.TakeCommandToken());
        }

        // Over a long run the rate is the configured one: 1000 more commands take 10 seconds.
        TimeSpan waited = TimeSpan.Zero;
        int waits = 0;
        for (int i = 0; i < 1000; i++)
        {
            TimeSpan wait = session.TakeCommandToken();
            if (wait > TimeSpan.Zero)
            {
                waits++;
                waited += wait;
                time.Advance(wait);
            }
        }

        Assert.InRange(waited.TotalSeconds, 9.99, 10.01);
        Assert.Equal(100, waits);
    }
}
