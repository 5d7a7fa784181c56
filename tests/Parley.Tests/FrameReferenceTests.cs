using System.Net;
using Parley.Internal;

namespace Parley.Tests;

/// <summary>
/// A frame from <see cref="MessageFramer.CreateFrame"/> is held by application code, which can
/// get its reference counting wrong. Misuse must be an exception on the spot, never a buffer
/// returned to the pool while a send queue (this connection's or another's) still sends it.
/// </summary>
public class FrameReferenceTests
{
    [Fact]
    public void A_release_after_the_frame_was_freed_throws_and_does_not_touch_the_next_frame_that_reuses_its_buffer()
    {
        var pool = new BufferPool();
        Frame first = LengthPrefixedFramer.Default.CreateFrame("first"u8, pool);
        first.Release();
        Assert.Equal(0, pool.Outstanding);

        // The next frame gets the same pooled array (and, before frames were kept out of the
        // object pool, the same Frame object): a stale release must not reach it.
        Frame second = LengthPrefixedFramer.Default.CreateFrame("again"u8, pool);
        Assert.Throws<InvalidOperationException>(first.Release);
        Assert.Throws<InvalidOperationException>(first.AddReference);
        Assert.True(first.Memory.IsEmpty);

        Assert.Equal(1, pool.Outstanding);
        Assert.Equal(TestSupport.LengthPrefixed("again"u8.ToArray()), second.Memory.ToArray());
        second.Release();
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void A_frame_released_once_too_often_throws_and_keeps_its_buffer_while_others_hold_it()
    {
        var pool = new BufferPool();
        Frame frame = LengthPrefixedFramer.Default.CreateFrame("hi"u8, pool);
        frame.AddReference();
        frame.Release();
        frame.Release();
        Assert.Equal(0, pool.Outstanding);
        Assert.Throws<InvalidOperationException>(frame.Release);
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task A_double_release_while_a_send_queue_holds_the_frame_throws_and_the_queued_bytes_still_go_out_intact()
    {
        var pool = new BufferPool();
        var transport = new GatedTransport();
        var connection = new Connection(transport, new ConnectionOptions { BufferPool = pool }, liveness: null);
        Assert.True(connection.TryStart());

        byte[] payload = TestSupport.Pattern(1000, 3);
        Frame frame = LengthPrefixedFramer.Default.CreateFrame(payload, pool);
        Assert.Equal(SendStatus.Queued, connection.Send(frame));
        await transport.Writing.Task.Within(); // the send loop holds the frame, writing it

        frame.Release();
        Assert.Throws<InvalidOperationException>(frame.Release); // the caller has no reference left
        Assert.Throws<InvalidOperationException>(() => connection.Send(frame));
        Assert.Equal(1, pool.Outstanding); // the send loop's reference still keeps the buffer

        transport.Gate.SetResult();
        await connection.FlushAsync().Within();
        Assert.Equal(TestSupport.LengthPrefixed(payload), transport.Written.ToArray());
        connection.Abort();

        // As a server or client does after an abort: the close finishes, the loops end and the
        // receive pipe gives back its segment (the receive loop may have rented one as the
        // transport was torn down).
        await connection.CloseAsync().Within();
        await TestSupport.Until(() => pool.Outstanding == 0, "the send loop released the frame");
    }

    [Fact]
    public void A_group_broadcast_of_a_released_frame_throws_before_any_member_takes_it()
    {
        var pool = new BufferPool();
        var group = new ConnectionGroup("g", LengthPrefixedFramer.Default, pool, []);
        Frame frame = LengthPrefixedFramer.Default.CreateFrame("x"u8, pool);
        frame.Release();
        Assert.Throws<InvalidOperationException>(() => group.Broadcast(frame));
        Assert.Equal(0, pool.Outstanding);
    }

    /// <summary>A transport whose writes wait for the test: the frame being written is held by the send loop meanwhile.</summary>
    private sealed class GatedTransport : Transport
    {
        private readonly TaskCompletionSource<int> _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Writing { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public MemoryStream Written { get; } = new();

        public override EndPoint? LocalEndPoint => null;

        public override EndPoint? RemoteEndPoint => null;

        public override int AvailableBytes => 0;

        public override ValueTask<int> ReceiveAsync(Memory<byte> buffer) => new(_finished.Task);

        public override async ValueTask<int> SendAsync(ReadOnlyMemory<byte> buffer)
        {
            Writing.TrySetResult();
            await Gate.Task.ConfigureAwait(false);
            lock (Written)
            {
                Written.Write(buffer.Span);
            }

            return buffer.Length;
        }

        public override ValueTask ShutdownSendAsync()
        {
            _finished.TrySetResult(0);
            return ValueTask.CompletedTask;
        }

        public override void Dispose() => _finished.TrySetResult(0);
    }
}
