namespace Parley.Cli.Tests;

/// <summary>Bounded polling for a condition another thread makes true.</summary>
internal static class TestWait
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public static async Task UntilAsync(Func<bool> condition)
    {
        using var deadline = new CancellationTokenSource(Timeout);
        while (!condition())
        {
            try
            {
                await Task.Delay(10, deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException("condition not met within 30 s");
            }
        }
    }
}
