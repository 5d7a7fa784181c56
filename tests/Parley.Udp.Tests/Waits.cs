namespace Parley.Udp.Tests;

/// <summary>Bounded polling for the loopback tests (real threads, real clock): never a fixed sleep as synchronisation.</summary>
internal static class Waits
{
    public static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    public static async Task UntilAsync(Func<bool> condition, string what = "the condition")
    {
        DateTime deadline = DateTime.UtcNow + Limit;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(5);
        }
    }
}
