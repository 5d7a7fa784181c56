using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;

namespace Parley;

/// <summary>
/// One end of an in-process byte stream: what this side writes, the other side reads. Runs
/// the whole stack (framing, send queues, applications) without sockets, in tests and for
/// in-process peers: <see cref="InMemoryConnection.CreatePair"/> for two connections,
/// <see cref="InMemoryConnectionListener"/> for a server that clients dial in process.
/// </summary>
/// <remarks>
/// Each direction is a <see cref="Pipe"/> bounded like a socket buffer, so a reader that
/// stops reading pushes back on the writer. <see cref="ShutdownSendAsync"/> is a FIN (the peer
/// reads 0); <see cref="Dispose"/> is a reset (the peer's next read fails).
/// </remarks>
public sealed class InMemoryTransport : Transport
{
    private const long BufferBytes = 256 * 1024;

    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly Lock _outputLock = new();
    private bool _sending;
    private bool _outputCompleted;
    private int _disposed;

    private InMemoryTransport(PipeReader input, PipeWriter output, EndPoint local, EndPoint remote)
    {
        _input = input;
        _output = output;
        LocalEndPoint = local;
        RemoteEndPoint = remote;
    }

    /// <inheritdoc />
    public override EndPoint? LocalEndPoint { get; }

    /// <inheritdoc />
    public override EndPoint? RemoteEndPoint { get; }

    /// <summary>Two connected ends, each with its own <c>memory:N</c> address.</summary>
    public static (InMemoryTransport First, InMemoryTransport Second) CreatePair()
    {
        var options = new PipeOptions(pauseWriterThreshold: BufferBytes, resumeWriterThreshold: BufferBytes / 2, useSynchronizationContext: false);
        var forward = new Pipe(options);
        var backward = new Pipe(options);
        var first = new InMemoryEndPoint(Interlocked.Increment(ref InMemoryEndPoint.LastId));
        var second = new InMemoryEndPoint(Interlocked.Increment(ref InMemoryEndPoint.LastId));
        return (new InMemoryTransport(backward.Reader, forward.Writer, first, second),
                new InMemoryTransport(forward.Reader, backward.Writer, second, first));
    }

    /// <inheritdoc />
    public override async ValueTask<int> ReceiveAsync(Memory<byte> buffer)
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            // Dispose cancels the one read pending then; any later read fails here, never waits.
            throw new SocketException((int)SocketError.OperationAborted);
        }

        ReadResult result;
        try
        {
            result = await _input.ReadAsync().ConfigureAwait(false);
        }
        catch (IOException)
        {
            throw new SocketException((int)SocketError.ConnectionReset);
        }

        if (result.IsCanceled || Volatile.Read(ref _disposed) != 0)
        {
            _input.AdvanceTo(result.Buffer.Start);
            throw new SocketException((int)SocketError.OperationAborted);
        }

        if (buffer.IsEmpty || result.Buffer.IsEmpty)
        {
            // A zero-byte read only waits for data; an empty completed buffer is the peer's FIN.
            _input.AdvanceTo(result.Buffer.Start);
            return 0;
        }

        int length = (int)Math.Min(buffer.Length, result.Buffer.Length);
        System.Buffers.ReadOnlySequence<byte> taken = result.Buffer.Slice(0, length);
        System.Buffers.BuffersExtensions.CopyTo(taken, buffer.Span);
        _input.AdvanceTo(taken.End);
        return length;
    }

    /// <inheritdoc />
    public override async ValueTask<int> SendAsync(ReadOnlyMemory<byte> buffer)
    {
        lock (_outputLock)
        {
            if (_outputCompleted)
            {
                throw new SocketException((int)SocketError.Shutdown);
            }

            _sending = true;
        }

        FlushResult result;
        try
        {
            result = await _output.WriteAsync(buffer).ConfigureAwait(false);
        }
        finally
        {
            lock (_outputLock)
            {
                _sending = false;
                if (Volatile.Read(ref _disposed) != 0)
                {
                    CompleteOutput(reset: true);
                }
            }
        }

        if (result.IsCanceled || result.IsCompleted)
        {
            throw new SocketException((int)SocketError.ConnectionReset);
        }

        return buffer.Length;
    }

    /// <inheritdoc />
    public override ValueTask ShutdownSendAsync()
    {
        lock (_outputLock)
        {
            if (!_sending)
            {
                CompleteOutput(reset: false);
            }
        }

        return ValueTask.CompletedTask;
    }

    // Called under _outputLock, never while a write is in progress (the pipe's writer is not
    // safe against concurrent use); the send in progress completes it when it ends.
    private void CompleteOutput(bool reset)
    {
        if (_outputCompleted)
        {
            return;
        }

        _outputCompleted = true;
        _output.Complete(reset ? new IOException("The in-memory connection was reset.") : null);
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // The peer sees a reset; our own pending receive and send are woken to fail.
        _output.CancelPendingFlush();
        lock (_outputLock)
        {
            if (!_sending)
            {
                CompleteOutput(reset: true);
            }
        }

        _input.CancelPendingRead();
    }

    /// <summary>An address for logs: <c>memory:N</c>.</summary>
    private sealed class InMemoryEndPoint(long id) : EndPoint
    {
        public static long LastId;

        public override string ToString() => $"memory:{id}";
    }
}
