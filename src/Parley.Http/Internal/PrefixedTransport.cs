using System.Net;
using Microsoft.Win32.SafeHandles;

namespace Parley.Http;

/// <summary>
/// A transport handed over after <c>101 Switching Protocols</c> when the peer had already sent
/// bytes past the request's head: those are received first, then the inner transport's.
/// Everything else passes through.
/// </summary>
internal sealed class PrefixedTransport(Transport inner, byte[] prefix) : Transport
{
    private int _offset;

    public override EndPoint? LocalEndPoint => inner.LocalEndPoint;

    public override EndPoint? RemoteEndPoint => inner.RemoteEndPoint;

    public override int AvailableBytes => (prefix.Length - _offset) + inner.AvailableBytes;

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

    public override ValueTask<int> SendAsync(ReadOnlyMemory<byte> buffer) => inner.SendAsync(buffer);

    public override ValueTask SendFileAsync(SafeFileHandle file, long offset, long count, CancellationToken cancellationToken = default) =>
        inner.SendFileAsync(file, offset, count, cancellationToken);

    public override ValueTask SendFileAsync(ReadOnlyMemory<byte> head, SafeFileHandle file, long offset, long count, CancellationToken cancellationToken = default) =>
        inner.SendFileAsync(head, file, offset, count, cancellationToken);

    public override ValueTask ShutdownSendAsync() => inner.ShutdownSendAsync();

    public override void Dispose() => inner.Dispose();
}
