using System.Text;
using Xunit.Abstractions;

namespace Parley.WebSockets.Tests;

[CollectionDefinition(nameof(AllocationTests), DisableParallelization = true)]
public sealed class AllocationCollection;

/// <summary>
/// The WebSocket path (decode → parse → dispatch → enqueue → frame → send, on both ends)
/// allocates nothing per message in steady state, as the TCP path does
/// (tests/Parley.Tests/AllocationTests): measured over the whole process (server and client both
/// in it) while no other test runs. It holds for an optimized build (0.0–1.0 B per round trip,
/// `dotnet test -c Release`): the transport's async methods complete synchronously, or suspend
/// into pooled boxes. A Debug build compiles every async method's state machine as a class,
/// allocated per call (about 20 B per round trip here), so there the bound only catches a
/// per-message object of our own.
/// </summary>
[Collection(nameof(AllocationTests))]
public sealed class AllocationTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Echoing_WebSocket_messages_in_steady_state_allocates_nothing_per_message()
    {
        const int InFlight = 64;
        const int Warmup = 50_000;
        const int Window = 50_000;
        const int Windows = 5;
        await using WebSocketHarness harness = await WebSocketHarness.StartAsync(options => options.MaxMessageSize = 4096);
        var options = new WebSocketOptions();
        options.AcceptBinary = true;
        await using var client = new ParleyClient(new ParleyClientOptions { Dialer = new WebSocketDialer(harness.Uri, options), Framer = options.CreateFramer(isClient: true) });
        byte[] payload = Encoding.ASCII.GetBytes(new string('p', 100));
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
        await client.ConnectAsync();
        for (int i = 0; i < InFlight; i++)
        {
            client.Send(payload);
        }

        await done.Task.WaitAsync(TimeSpan.FromMinutes(2));
        double[] perMessage = [.. Enumerable.Range(0, Windows).Select(i => (double)(marks[i + 1] - marks[i]) / Window)];
        output.WriteLine($"bytes allocated per round trip in {Windows} windows of {Window}: {string.Join(", ", perMessage.Select(b => b.ToString("F3", System.Globalization.CultureInfo.InvariantCulture)))}");

        bool optimized = typeof(WebSocketOptions).Assembly.GetCustomAttributes(typeof(System.Diagnostics.DebuggableAttribute), false)
            is not [System.Diagnostics.DebuggableAttribute { IsJITOptimizerDisabled: true }];
        double bound = optimized ? 1.0 : 48.0;
        Assert.True(perMessage.Min() < bound, $"every window allocated: {string.Join(", ", perMessage)} B per round trip (bound {bound}, optimized: {optimized})");
    }
}

