using System.Net.Sockets;

namespace Parley.Tests;

/// <summary>Issue 15, item 3: a peer that trickles a message costs memory in proportion to its bytes, and only for a while.</summary>
public class SlowInputTests
{
    [Theory]
    [InlineData("line")]
    [InlineData("length")]
    public async Task A_message_trickled_a_byte_per_read_holds_memory_in_proportion_to_its_bytes(string framing)
    {
        var pool = new BufferPool();
        ParleyServerOptions options = TestSupport.ServerOptions(pool);
        options.Framer = framing == "line" ? new LineFramer(64 * 1024) : new LengthPrefixedFramer(1024 * 1024);
        options.IncompleteMessageTimeout = Timeout.InfiniteTimeSpan;
        options.IdleTimeout = Timeout.InfiniteTimeSpan;
        await using var server = new ParleyServer(options);
        server.Start();

        (Socket connectedPeer, Connection connection) = await ConnectPeerAsync(server);
        using Socket peer = connectedPeer;
        peer.NoDelay = true;
        
        byte[] start = framing == "line" ? [(byte)'x'] : TestSupport.LengthPrefixed(new byte[1024 * 1024])[..5];
        await peer.SendAsync(start);
        await TestSupport.Until(() => connection.BytesReceived == start.Length, "the first bytes");

        // One byte per receive: wait (yielding, not sleeping) for each to be read before sending the next.
        const int Trickled = 3000;
        using var deadline = new CancellationTokenSource(TestSupport.Timeout);
        for (int i = 0; i < Trickled; i++)
        {
            await peer.SendAsync(new[] { (byte)'y' });
            long expected = start.Length + i + 1;
            while (connection.BytesReceived != expected)
            {
                deadline.Token.ThrowIfCancellationRequested();
                await Task.Yield();
            }
        }

        // Before the fix every read rented a fresh 8 KiB segment: 3000 reads held ~24 MiB.
        Assert.InRange(pool.OutstandingBytes, 1, 4 * options.ReadBufferSize);
        Assert.Equal(ConnectionState.Open, connection.State);
    }

    [Fact]
    public async Task A_message_left_unfinished_past_the_timeout_closes_its_connection_only()
    {
        (ParleyServerOptions options, ManualClock time) = FakeClockServer();
        await using var server = new ParleyServer(options);
        var connections = new System.Collections.Concurrent.ConcurrentQueue<Connection>();
        server.Connected += connections.Enqueue;
        server.Start();

        using Socket stalled = await TestSupport.ConnectRawAsync(server);
        using Socket finished = await TestSupport.ConnectRawAsync(server);
        await TestSupport.Until(() => connections.Count == 2, "both connections");
        byte[] frame = TestSupport.LengthPrefixed(TestSupport.Pattern(100, 1));
        await stalled.SendAsync(frame.AsMemory(0, 50));   // header and half the payload, then nothing
        await finished.SendAsync(frame);                  // a whole message
        Connection stalledSide = connections.Single(c => c.RemoteEndPoint!.Equals(stalled.LocalEndPoint));
        Connection finishedSide = connections.Single(c => c.RemoteEndPoint!.Equals(finished.LocalEndPoint));
        await TestSupport.Until(() => stalledSide.BytesReceived == 50 && finishedSide.MessagesReceived == 1, "the bytes read");

        // 29 s: still open; past the timeout the liveness check closes the stalled one; the other stays.
        time.Advance(TimeSpan.FromSeconds(29));
        stalledSide.CheckLiveness();
        finishedSide.CheckLiveness();
        Assert.Equal(ConnectionState.Open, stalledSide.State);
        time.Advance(TimeSpan.FromSeconds(2));
        stalledSide.CheckLiveness();
        finishedSide.CheckLiveness();
        await TestSupport.Until(() => stalledSide.State == ConnectionState.Closed, "the stalled connection closed");
        Assert.Equal(CloseReason.MessageTimeout, stalledSide.CloseReason);
        Assert.Equal(ConnectionState.Open, finishedSide.State);
    }

    [Fact]
    public async Task A_message_sent_slowly_but_finished_in_time_is_delivered()
    {
        (ParleyServerOptions options, ManualClock time) = FakeClockServer();
        await using var server = new ParleyServer(options);
        var received = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.MessageReceived += (_, message) => received.TrySetResult((int)message.Length);
        server.Start();

        (Socket connectedPeer, Connection connection) = await ConnectPeerAsync(server);
        using Socket peer = connectedPeer;
        
        byte[] frame = TestSupport.LengthPrefixed(TestSupport.Pattern(100, 2));
        for (int i = 0; i < 10; i++)
        {
            await peer.SendAsync(frame.AsMemory(i * 10, 10));
            int sent = (i + 1) * 10;
            await TestSupport.Until(() => connection.BytesReceived == sent, "a part");
            time.Advance(TimeSpan.FromSeconds(2.5)); // 25 s in all: under the timeout
            connection.CheckLiveness();
        }

        await peer.SendAsync(frame.AsMemory(100));
        Assert.Equal(100, await received.Task.Within());

        // The clock restarts with each message: another 25 s of quiet is no reason to close.
        time.Advance(TimeSpan.FromSeconds(25));
        await peer.SendAsync(frame.AsMemory(0, 10));
        await TestSupport.Until(() => connection.BytesReceived == 114, "the next message's start");
        connection.CheckLiveness();
        Assert.Equal(ConnectionState.Open, connection.State);
    }

    /// <summary>Connects a raw peer and returns it with the server's side of its connection.</summary>
    private static async Task<(Socket Peer, Connection Connection)> ConnectPeerAsync(ParleyServer server)
    {
        var connected = new TaskCompletionSource<Connection>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnConnected(Connection connection) => connected.TrySetResult(connection);
        server.Connected += OnConnected;
        try
        {
            Socket peer = await TestSupport.ConnectRawAsync(server);
            return (peer, await connected.Task.Within());
        }
        finally
        {
            server.Connected -= OnConnected;
        }
    }

    private static (ParleyServerOptions Options, ManualClock Time) FakeClockServer()
    {
        var time = new ManualClock();
        ParleyServerOptions options = TestSupport.ServerOptions(new BufferPool());
        options.TimeProvider = time;
        options.IdleTimeout = Timeout.InfiniteTimeSpan;
        options.KeepAliveInterval = Timeout.InfiniteTimeSpan;
        options.IncompleteMessageTimeout = TimeSpan.FromSeconds(30);
        return (options, time);
    }

    [Fact]
    public async Task A_stream_of_messages_that_each_span_reads_is_never_closed()
    {
        (ParleyServerOptions options, ManualClock time) = FakeClockServer();
        await using var server = new ParleyServer(options);
        server.Start();
        (Socket connectedPeer, Connection connection) = await ConnectPeerAsync(server);
        using Socket peer = connectedPeer;
        

        // Each send completes one 64 KiB message and starts the next: a partial one is always buffered.
        byte[] frame = TestSupport.LengthPrefixed(TestSupport.Pattern(64 * 1024, 3));
        int half = frame.Length / 2;
        await peer.SendAsync(frame.AsMemory(0, half));
        for (int i = 1; i <= 20; i++)
        {
            await peer.SendAsync(frame.AsMemory(half));
            await peer.SendAsync(frame.AsMemory(0, half));
            int expected = i;
            await TestSupport.Until(() => connection.MessagesReceived == expected && connection.BytesReceived == (long)(i * frame.Length) + half, "a message and the next one's start");
            time.Advance(TimeSpan.FromSeconds(10)); // 200 s in all, a partial message buffered throughout
            connection.CheckLiveness();
            Assert.Equal(ConnectionState.Open, connection.State);
        }
    }

    [Fact]
    public async Task A_large_message_arriving_slowly_but_above_the_minimum_rate_outlives_the_timeout()
    {
        (ParleyServerOptions options, ManualClock time) = FakeClockServer();
        options.MinMessageDataRate = 240;
        await using var server = new ParleyServer(options);
        var received = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.MessageReceived += (_, message) => received.TrySetResult((int)message.Length);
        server.Start();
        (Socket connectedPeer, Connection connection) = await ConnectPeerAsync(server);
        using Socket peer = connectedPeer;
        

        // 256 KiB in 4 KiB pieces, one every 10 s: ~410 B/s, 640 s in all, far past the 30 s timeout.
        byte[] frame = TestSupport.LengthPrefixed(TestSupport.Pattern(256 * 1024, 4));
        for (int offset = 0; offset < frame.Length; offset += 4096)
        {
            int length = Math.Min(4096, frame.Length - offset);
            await peer.SendAsync(frame.AsMemory(offset, length));
            long expected = offset + length;
            await TestSupport.Until(() => connection.BytesReceived == expected, "a piece");
            connection.CheckLiveness();
            Assert.Equal(ConnectionState.Open, connection.State);
            time.Advance(TimeSpan.FromSeconds(10));
        }

        Assert.Equal(256 * 1024, await received.Task.Within());
    }

    [Fact]
    public async Task A_reader_busy_with_a_message_is_not_closed_for_the_next_one_waiting_behind_it()
    {
        (ParleyServerOptions options, ManualClock time) = FakeClockServer();
        await using var server = new ParleyServer(options);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = new TaskCompletionSource<Connection>(TaskCreationOptions.RunContinuationsAsynchronously);
        int handled = 0;
        server.Start(async (connection, closed) =>
        {
            await foreach (System.Buffers.ReadOnlySequence<byte> message in connection.ReadMessagesAsync(closed))
            {
                if (Interlocked.Increment(ref handled) == 1)
                {
                    first.TrySetResult(connection);
                    await gate.Task; // the application is slow (a journal write, a password check)
                }
            }
        });
        using Socket peer = await TestSupport.ConnectRawAsync(server);
        byte[] frame = TestSupport.LengthPrefixed(TestSupport.Pattern(100, 5));
        byte[] firstAndHalf = [.. frame, .. frame.AsSpan(0, 50)];
        await peer.SendAsync(firstAndHalf);
        Connection connection = await first.Task.Within();

        time.Advance(TimeSpan.FromMinutes(5));
        connection.CheckLiveness();
        Assert.Equal(ConnectionState.Open, connection.State);
        gate.SetResult();
        await peer.SendAsync(frame.AsMemory(50));
        await TestSupport.Until(() => Volatile.Read(ref handled) == 2, "the second message");
        Assert.Equal(ConnectionState.Open, connection.State);
    }
}

/// <summary>A clock the test moves by hand; its timers are the system's (only the readings are faked).</summary>
internal sealed class ManualClock : TimeProvider
{
    private readonly long _start = DateTimeOffset.UtcNow.UtcTicks;
    private long _ticks = DateTimeOffset.UtcNow.UtcTicks;

    public TimeSpan Elapsed => TimeSpan.FromTicks(Interlocked.Read(ref _ticks) - _start);

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

    public override long GetTimestamp() => Interlocked.Read(ref _ticks);

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}
