using System.Net.Sockets;

namespace Parley.Tests;

/// <summary>
/// Keep-alives and idle timeouts on a clock the test moves by hand: the liveness monitor's
/// ticks come from the options' <see cref="TimeProvider"/>, so these need no wall-clock waits and
/// run in parallel with everything else (the wall-clock versions are in <see cref="LivenessTests"/>).
/// </summary>
public class FakeClockLivenessTests
{
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(50);

    [Fact]
    public async Task A_silent_peer_is_closed_by_the_idle_timeout_when_the_clock_passes_it_and_not_before()
    {
        var time = new ManualTime();
        var pool = new BufferPool();
        ParleyServerOptions options = TestSupport.ServerOptions(pool);
        options.TimeProvider = time;
        options.IdleTimeout = TimeSpan.FromMilliseconds(400);
        options.KeepAliveInterval = TimeSpan.FromMilliseconds(100);
        await using var server = new ParleyServer(options);
        var connected = new TaskCompletionSource<Connection>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Connected += connection => connected.TrySetResult(connection);
        server.Start();

        using Socket silent = await TestSupport.ConnectRawAsync(server);
        Connection connection = await connected.Task.Within();
        TimeSpan elapsed = TimeSpan.Zero;
        while (connection.State == ConnectionState.Open && elapsed < TimeSpan.FromSeconds(5))
        {
            time.Advance(Step); // fires the monitor's tick, which checks this connection on the same clock
            elapsed += Step;
        }

        await TestSupport.Until(() => connection.CloseReason == CloseReason.IdleTimeout, "the idle timeout");
        Assert.InRange(elapsed, TimeSpan.FromMilliseconds(400), TimeSpan.FromMilliseconds(600));
    }

    [Fact]
    public async Task Keep_alives_on_the_moved_clock_hold_a_quiet_connection_open_past_many_idle_timeouts()
    {
        var time = new ManualTime();
        var pool = new BufferPool();
        ParleyServerOptions options = TestSupport.ServerOptions(pool);
        options.TimeProvider = time;
        options.IdleTimeout = TimeSpan.FromMilliseconds(1000);
        options.KeepAliveInterval = TimeSpan.FromMilliseconds(100);
        await using var server = new ParleyServer(options);
        var connected = new TaskCompletionSource<Connection>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Connected += connection => connected.TrySetResult(connection);
        int delivered = 0;
        server.MessageReceived += (_, _) => Interlocked.Increment(ref delivered);
        server.Start();

        ParleyClientOptions clientOptions = TestSupport.ClientOptions(server, pool);
        clientOptions.TimeProvider = time;
        clientOptions.IdleTimeout = TimeSpan.FromMilliseconds(1000);
        clientOptions.KeepAliveInterval = TimeSpan.FromMilliseconds(100);
        await using var client = new ParleyClient(clientOptions);
        client.MessageReceived += (_, _) => Interlocked.Increment(ref delivered);
        await client.ConnectAsync().Within();
        Connection serverSide = await connected.Task.Within();

        // Five idle timeouts of the moved clock. After each keep-alive interval, wait (on real
        // time, no threshold) until both sides have received the other's keep-alive, as a live
        // network delivers it between ticks.
        for (int i = 0; i < 50; i++)
        {
            long serverBefore = serverSide.BytesReceived;
            long clientBefore = client.Connection!.BytesReceived;
            time.Advance(TimeSpan.FromMilliseconds(100));
            await TestSupport.Until(
                () => serverSide.BytesReceived > serverBefore && client.Connection!.BytesReceived > clientBefore,
                "a keep-alive each way");
        }

        Assert.Equal(ConnectionState.Open, serverSide.State);
        Assert.True(client.IsConnected);
        Assert.Equal(0, Volatile.Read(ref delivered)); // keep-alives are never delivered as messages
    }
}
