using Xunit.Abstractions;

namespace Parley.Tests;

[CollectionDefinition(nameof(AllocationTests), DisableParallelization = true)]
public sealed class AllocationCollection;

/// <summary>
/// The hot path (receive → parse → dispatch → enqueue → send) allocates nothing per message in
/// steady state. Measured over the whole process (server and client both in it) while no other
/// test runs, so any per-message allocation on either side shows up as bytes per message.
/// </summary>
[Collection(nameof(AllocationTests))]
public class AllocationTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)] // a middleware pipeline on both ends (compression; these payloads are under its threshold)
    public async Task Echoing_messages_in_steady_state_allocates_nothing_per_message(bool middleware)
    {
        const int InFlight = 64;
        const int Warmup = 100_000;
        const int Window = 100_000;
        const int Windows = 5;
        var pool = new BufferPool();
        MessageMiddleware[] pipeline = middleware ? [new CompressionMiddleware(CompressionCodec.Brotli)] : [];
        ParleyServerOptions serverOptions = TestSupport.ServerOptions(pool);
        serverOptions.Middleware = pipeline;
        await using var server = new ParleyServer(serverOptions);
        server.MessageReceived += static (connection, message) => connection.Send(message);
        server.Start();

        ParleyClientOptions clientOptions = TestSupport.ClientOptions(server, pool);
        clientOptions.Middleware = pipeline;
        await using var client = new ParleyClient(clientOptions);
        byte[] payload = new byte[100];
        int received = 0;
        long[] marks = new long[Windows + 1];
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        client.MessageReceived += (connection, _) =>
        {
            int count = ++received;
            if (count >= Warmup && (count - Warmup) % Window == 0)
            {
                int index = (count - Warmup) / Window;
                marks[index] = GC.GetTotalAllocatedBytes(precise: true);
                if (index == Windows)
                {
                    done.TrySetResult();
                    return;
                }
            }

            connection.Send(payload);
        };
        await client.ConnectAsync().Within();
        for (int i = 0; i < InFlight; i++)
        {
            client.Send(payload);
        }

        await done.Task.WaitAsync(TimeSpan.FromMinutes(2));
        double[] perMessage = Enumerable.Range(0, Windows).Select(i => (double)(marks[i + 1] - marks[i]) / Window).ToArray();
        output.WriteLine($"bytes allocated per round trip in {Windows} windows of {Window}: {string.Join(", ", perMessage.Select(b => b.ToString("F3", System.Globalization.CultureInfo.InvariantCulture)))}");

        // A per-message allocation on either side would be 24+ bytes in every window. The test
        // host and runtime allocate a little now and then in the background (once ~800 KB in
        // one go), so the quietest window is the measure.
        Assert.True(perMessage.Min() < 1.0, $"every window allocated: {string.Join(", ", perMessage)} B per round trip");
    }
}
