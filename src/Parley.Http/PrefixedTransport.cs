using System.Net;
using Microsoft.Win32.SafeHandles;

namespace Parley.Http;

/// <summary>
/// A transport whose first bytes were already read off the inner one: they are received again
/// first, then the inner transport's. Everything else passes through. A switch of protocols
/// needs it on both sides: the server hands over a connection whose peer had already sent bytes
/// past the request's head (<see cref="HttpContext.UpgradeAsync"/>), a client one whose server
/// sent its first frames with its answer.
/// </summary>
/// <param name="inner">The transport; owned (disposed with this one).</param>
/// <param name="prefix">The bytes read ahead; kept, not copied.</param>
public sealed class PrefixedTransport(Transport inner, byte[] prefix) : Transport
{
    private int _offset;

    /// <inheritdoc/>
    public override EndPoint? LocalEndPoint => inner.LocalEndPoint;

    /// <inheritdoc/>
    public override EndPoint? RemoteEndPoint => inner.RemoteEndPoint;

    /// <inheritdoc/>
    public override int AvailableBytes => (prefix.Length - _offset) + inner.AvailableBytes;

    /// <inheritdoc/>
    public override ValueTask<int> ReceiveAsync(Memory<byte> buffer)
    {
        int left = prefix.Length - _offset;
        if (left == 0)
        {
            return inner.ReceiveAsync(buffer);
        }

        int count = Math.Min(left, buffer.Length);
        prefix.AsSpan(_offset, count).CopyTo(buffer.Span);
        _offset += count;
        return new ValueTask<int>(count);
    }

    /// <inheritdoc/>
    public override ValueTask<int> SendAsync(ReadOnlyMemory<byte> buffer) => inner.SendAsync(buffer);

    /// <inheritdoc/>
    public override ValueTask SendFileAsync(SafeFileHandle file, long offset, long count, CancellationToken cancellationToken = default) =>
        inner.SendFileAsync(file, offset, count, cancellationToken);

    /// <inheritdoc/>
    public override ValueTask SendFileAsync(ReadOnlyMemory<byte> head, SafeFileHandle file, long offset, long count, CancellationToken cancellationToken = default) =>
        inner.SendFileAsync(head, file, offset, count, cancellationToken);

    /// <inheritdoc/>
    public override ValueTask ShutdownSendAsync() => inner.ShutdownSendAsync();

    /// <inheritdoc/>
    public override void Dispose() => inner.Dispose();
}
