namespace Parley.Internal;

/// <summary>
/// A <see cref="Stream"/> over a <see cref="Transport"/>, so that stream decorators (TLS's
/// <see cref="System.Net.Security.SslStream"/>) run over any transport. Owns the transport.
/// </summary>
/// <remarks>Cancellation: a transport's operations end when it is disposed, so a cancelled
/// token disposes it — the stream is unusable afterwards, as a socket stream is after a
/// cancelled read.</remarks>
internal sealed class TransportStream(Transport transport) : Stream
{
    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    // The uncancellable calls — every read and write after the handshake — hand the transport's
    // own ValueTask through: no async state machine (and no box when it completes later) per call.
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        cancellationToken.CanBeCanceled ? ReadCancellableAsync(buffer, cancellationToken) : transport.ReceiveAsync(buffer);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (cancellationToken.CanBeCanceled)
        {
            return WriteCancellableAsync(buffer, cancellationToken);
        }

        ValueTask<int> sending = transport.SendAsync(buffer);
        if (sending.IsCompletedSuccessfully)
        {
            _ = sending.Result; // consume it: a pooled ValueTask source is returned on GetResult
            return ValueTask.CompletedTask;
        }

        return AwaitSendAsync(sending);
    }

    private static async ValueTask AwaitSendAsync(ValueTask<int> sending) => await sending.ConfigureAwait(false);

    // The handshake's calls carry its deadline: a transport's operations end when it is
    // disposed, so the token disposes it.
    private async ValueTask<int> ReadCancellableAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        using CancellationTokenRegistration abort = cancellationToken.Register(static state => ((Transport)state!).Dispose(), transport);
        try
        {
            return await transport.ReceiveAsync(buffer).ConfigureAwait(false);
        }
        catch (Exception) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
    }

    private async ValueTask WriteCancellableAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        using CancellationTokenRegistration abort = cancellationToken.Register(static state => ((Transport)state!).Dispose(), transport);
        try
        {
            await transport.SendAsync(buffer).ConfigureAwait(false);
        }
        catch (Exception) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    // SslStream calls the asynchronous members when it is used asynchronously, as Parley does;
    // the synchronous ones exist for completeness and block.
    public override int Read(byte[] buffer, int offset, int count) =>
        ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Write(byte[] buffer, int offset, int count) =>
        WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            transport.Dispose();
        }

        base.Dispose(disposing);
    }
}
