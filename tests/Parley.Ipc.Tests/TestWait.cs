namespace Parley.Ipc.Tests;

/// <summary>Waits for a condition (an event seen through a counter or a state) with a generous limit; never a fixed sleep.</summary>
internal static class TestWait
{
    public static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    public static async Task Until(Func<bool> condition, string what = "condition")
    {
        long deadline = Environment.TickCount64 + (long)Limit.TotalMilliseconds;
        while (!condition())
        {
            Assert.True(Environment.TickCount64 < deadline, $"{what} not met within {Limit}");
            await Task.Delay(5);
        }
    }
}
