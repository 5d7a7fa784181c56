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

    [Fact]
    public async Task Keep_alives_hold_an_idle_but_live_connection_open_and_are_never_delivered()
    {
        // The idle timeout is twenty keep-alive intervals: scheduling noise on a loaded machine
        // must not look like a dead peer (at ten, a CI run with every test assembly at once saw a
        // one-second stall close it), but the test still spans two timeouts.
        var pool = new BufferPool();
        var options = TestSupport.ServerOptions(pool);
        options.IdleTimeout = TimeSpan.FromMilliseconds(2000);
        options.KeepAliveInterval = TimeSpan.FromMilliseconds(100);
        await using var server = new ParleyServer(options);
        var connected = new TaskCompletionSource<Connection>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Connected += connection => connected.TrySetResult(connection);
        int serverMessages = 0;
        server.MessageReceived += (_, _) => Interlocked.Increment(ref serverMessages);
        server.Start();

        ParleyClientOptions clientOptions = TestSupport.ClientOptions(server, pool);
        clientOptions.IdleTimeout = TimeSpan.FromMilliseconds(2000);
        clientOptions.KeepAliveInterval = TimeSpan.FromMilliseconds(100);
        await using var client = new ParleyClient(clientOptions);
        int clientMessages = 0;
        client.MessageReceived += (_, _) => Interlocked.Increment(ref clientMessages);
        await client.ConnectAsync().Within();
        Connection serverSide = await connected.Task.Within();

        // Wait until both sides have exchanged keep-alives (4 bytes each) for over two idle timeouts.
        long started = Environment.TickCount64;
        await TestSupport.Until(
            () => serverSide.State != ConnectionState.Open
                || (Environment.TickCount64 - started > 2 * 2000 && serverSide.BytesReceived >= 4 * 20 && serverSide.BytesSent >= 4 * 20),
            "keep-alives flowed both ways for two idle timeouts");
        Assert.Equal(ConnectionState.Open, serverSide.State);
        Assert.True(client.IsConnected);
        Assert.Equal(0, serverMessages);
        Assert.Equal(0, clientMessages);
        Assert.Equal(0, serverSide.MessagesSent);
    }
}
