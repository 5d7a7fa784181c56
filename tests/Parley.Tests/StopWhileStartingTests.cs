using System.Buffers;
using System.Collections.Concurrent;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Parley.Tests;

/// <summary>
/// A server stopped (or a peer gone) while a connection's handler is still starting: the
/// handler sees an ended stream, nothing is logged as a failure (issue 15, item 9).
/// </summary>
public class StopWhileStartingTests
{
    [Fact]
    public async Task Reading_a_connection_that_closed_before_anyone_read_it_ends_at_once_instead_of_throwing()
    {
        (Connection first, Connection second) = InMemoryConnection.CreatePair();
        await using (second)
        {
            first.Abort();
            await first.CloseAsync().Within();
            Assert.Equal(ConnectionState.Closed, first.State);

            int messages = 0;
            await foreach (ReadOnlySequence<byte> message in first.ReadMessagesAsync().WithCancellation(CancellationToken.None))
            {
                messages++;
            }

            Assert.Equal(0, messages);
        }
    }

    [Fact]
    public async Task A_second_reader_is_still_refused_while_the_first_one_reads()
    {
        (Connection first, Connection second) = InMemoryConnection.CreatePair();
        await using (first)
        await using (second)
        {
            await using IAsyncEnumerator<ReadOnlySequence<byte>> reader = first.ReadMessagesAsync().GetAsyncEnumerator();
            second.Send("one"u8);
            Assert.True(await reader.MoveNextAsync().AsTask().Within());

            await using IAsyncEnumerator<ReadOnlySequence<byte>> other = first.ReadMessagesAsync().GetAsyncEnumerator();
            await Assert.ThrowsAsync<InvalidOperationException>(() => other.MoveNextAsync().AsTask());
        }
    }

    [Fact]
    public async Task Stopping_the_server_before_a_handler_starts_reading_logs_no_failure()
    {
        var pool = new BufferPool();
        var logs = new CapturingLoggerFactory();
        ParleyServerOptions options = TestSupport.ServerOptions(pool);
        options.LoggerFactory = logs;
        var entered = new TaskCompletionSource<Connection>(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var read = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var errors = new ConcurrentQueue<Exception>();
        await using var server = new ParleyServer(options);
        server.Error += (_, ex) => errors.Enqueue(ex);
        server.Start(async (connection, closed) =>
        {
            entered.SetResult(connection);

            // Held here, as a handler busy with its greeting or preempted on a loaded machine is.
            await gate.Task;
            try
            {
                int messages = 0;
                await foreach (ReadOnlySequence<byte> message in connection.ReadMessagesAsync(CancellationToken.None))
                {
                    messages++;
                }

                read.SetResult(messages);
            }
            catch (Exception ex)
            {
                read.SetException(ex);
                throw;
            }
        });

        using Socket client = await TestSupport.ConnectRawAsync(server);
        Connection accepted = await entered.Task.Within();
        Task stop = server.StopAsync();

        // The server closes gracefully: it sends FIN and waits for ours.
        Assert.Equal(0, await client.ReceiveAsync(new byte[16]).Within());
        client.Shutdown(SocketShutdown.Send);
        await TestSupport.Until(() => accepted.Closed.IsCancellationRequested, "the connection is closed");

        gate.SetResult();
        Assert.Equal(0, await read.Task.Within());
        await stop.Within();

        Assert.Empty(errors);
        Assert.DoesNotContain(logs.Entries, entry => entry.Level >= LogLevel.Error);
        Assert.Equal(CloseReason.ServerShutdown, accepted.CloseReason);
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task A_handler_whose_read_is_cancelled_by_its_own_connection_closing_ends_quietly()
    {
        var pool = new BufferPool();
        var logs = new CapturingLoggerFactory();
        ParleyServerOptions options = TestSupport.ServerOptions(pool);
        options.LoggerFactory = logs;
        var first = new TaskCompletionSource<Connection>(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var errors = new ConcurrentQueue<Exception>();
        await using var server = new ParleyServer(options);
        server.Error += (_, ex) => errors.Enqueue(ex);
        server.Start(async (connection, closed) =>
        {
            // The documented pattern: read with the token the server hands over.
            await foreach (ReadOnlySequence<byte> message in connection.ReadMessagesAsync(closed))
            {
                first.TrySetResult(connection);
                await gate.Task;
            }
        });

        await using var client = new ParleyClient(TestSupport.ClientOptions(server, pool));
        await client.ConnectAsync().Within();
        client.Send("hello"u8);
        Connection accepted = await first.Task.Within();

        // The connection closes while the handler is busy with a message: its next read sees a cancelled token.
        accepted.Abort(CloseReason.LocalAbort);
        Task closing = accepted.CloseAsync();
        await TestSupport.Until(() => accepted.Closed.IsCancellationRequested, "the connection is closed");
        gate.SetResult();
        await closing.Within();
        await server.StopAsync().Within();

        Assert.Empty(errors);
        Assert.DoesNotContain(logs.Entries, entry => entry.Level >= LogLevel.Error);
        Assert.Equal(CloseReason.LocalAbort, accepted.CloseReason);
    }

    [Fact]
    public async Task Stopping_servers_right_after_connections_arrive_never_logs_a_failure()
    {
        // Not deterministic on its own (the tests above are): a bounded sweep over the real
        // timing of accept, handler start and stop, in both the event and the async model.
        var pool = new BufferPool();
        for (int round = 0; round < 40; round++)
        {
            var logs = new CapturingLoggerFactory();
            ParleyServerOptions options = TestSupport.ServerOptions(pool);
            options.LoggerFactory = logs;
            var errors = new ConcurrentQueue<Exception>();
            var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var server = new ParleyServer(options);
            server.Error += (_, ex) => errors.Enqueue(ex);
            server.Connected += _ => arrived.TrySetResult();
            if (round % 2 == 0)
            {
                server.MessageReceived += static (connection, message) => connection.Send(message);
                server.Start();
            }
            else
            {
                server.Start(async (connection, closed) =>
                {
                    connection.Send("hello"u8);
                    await foreach (ReadOnlySequence<byte> message in connection.ReadMessagesAsync(closed))
                    {
                        connection.Send(message);
                    }
                });
            }

            using (Socket client = await TestSupport.ConnectRawAsync(server))
            {
                if (round % 4 < 2)
                {
                    await arrived.Task.Within();
                }

                Task stop = server.StopAsync();
                client.Shutdown(SocketShutdown.Send);
                await stop.Within();
            }

            await server.DisposeAsync();
            Assert.Empty(errors);
            Assert.DoesNotContain(logs.Entries, entry => entry.Level >= LogLevel.Error);
        }

        Assert.Equal(0, pool.Outstanding);
    }
}
