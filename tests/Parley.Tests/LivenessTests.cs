using System.Net.Sockets;

namespace Parley.Tests;

[CollectionDefinition(nameof(LivenessTests), DisableParallelization = true)]
public sealed class LivenessCollection;

/// <summary>
/// Idle timeouts and keep-alives, with short periods so the tests are quick. They run alone:
/// other tests saturating both cores would otherwise starve the timers they depend on.
/// </summary>
[Collection(nameof(LivenessTests))]
public class LivenessTests
{
    [Fact]
    public async Task A_peer_that_goes_silent_without_a_fin_is_closed_by_the_idle_timeout()
    {
        var pool = new BufferPool();
        var options = TestSupport.ServerOptions(pool);
        options.IdleTimeout = TimeSpan.FromMilliseconds(400);
        options.KeepAliveInterval = TimeSpan.FromMilliseconds(100);
        await using var server = new ParleyServer(options);
        var closed = new TaskCompletionSource<Connection>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Disconnected += connection => closed.TrySetResult(connection);
        server.Start();

        // A raw peer that connects and then sends nothing, like a host that lost power: no FIN ever comes.
        using Socket silent = await TestSupport.ConnectRawAsync(server);
        Connection connection = await closed.Task.Within();
        Assert.Equal(CloseReason.IdleTimeout, connection.CloseReason);
        Assert.Equal(0, pool.Outstanding);
    }

    // Keep-alives holding a quiet connection open are tested on a moved clock
    // (FakeClockLivenessTests): on the wall clock, a stall of the machine longer than the idle
    // timeout made the test fail with nothing wrong.
}
