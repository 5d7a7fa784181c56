using Xunit.Abstractions;

namespace Parley.Tests;

[CollectionDefinition(nameof(AllocationTests), DisableParallelization = true)]
public sealed class AllocationCollection;

/// <summary>
/// The hot path (receive → parse → dispatch → enqueue → send) allocates nothing per message in
/// steady state. Measured over the whole process (server and client both in it) while nothing
/// else runs, so any per-message allocation on either side shows up as bytes per message.
/// </summary>
[Collection(nameof(AllocationTests))]
public class AllocationTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Echoing_messages_in_steady_state_allocates_nothing_per_message()
    {
        const int InFlight = 64;
        const int Warmup = 100_000;
        const int Measured = 500_000;
        var pool = new BufferPool();
        await using var server = new ParleyServer(TestSupport.ServerOptions(pool));
        server.MessageReceived += static (connection, message) => connection.Send(message);
        server.Start();

        await using var client = new ParleyClient(TestSupport.ClientOptions(server, pool));
        byte[] payload = new byte[100];
        int received = 0;
        long startBytes = 0;
        var warm = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        client.MessageReceived += (connection, _) =>
        {
            int count = ++received;
            if (count == Warmup)
            {
                startBytes = GC.GetTotalAllocatedBytes(precise: true);
            }

            if (count == Warmup + Measured)
            {
                done.TrySetResult();
                return;
            }

            if (count <= Warmup + Measured - InFlight)
            {
                connection.Send(payload);
            }
        };
        await client.ConnectAsync().Within();
        for (int i = 0; i < InFlight; i++)
        {
            client.Send(payload);
        }

        await done.Task.WaitAsync(TimeSpan.FromMinutes(2));
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - startBytes;
        double perMessage = (double)allocated / Measured;
        output.WriteLine($"allocated {allocated} bytes over {Measured} round trips: {perMessage:F3} B per round trip");

        // Timers, the thread pool and the test host allocate a little in the background; one
        // allocation per message on either side would be 24+ bytes per message.
        Assert.True(perMessage < 1.0, $"allocated {allocated} bytes over {Measured} round trips: {perMessage:F2} B per message");
    }
}
