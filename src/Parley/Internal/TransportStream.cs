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
    public Transport Transport => transport;

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!cancellationToken.CanBeCanceled)
        {
            return await transport.ReceiveAsync(buffer).ConfigureAwait(false);
        }

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

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!cancellationToken.CanBeCanceled)
        {
            await transport.SendAsync(buffer).ConfigureAwait(false);
            return;
        }

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
