using System.Buffers;
using System.Net;
using Microsoft.Win32.SafeHandles;

namespace Parley;

/// <summary>
/// One connection's bidirectional byte stream, under Parley's framing. It knows nothing of
/// frames or messages: a socket, a TLS session, a shared-memory ring pair or an in-process
/// pipe. A <see cref="ConnectionListener"/> accepts transports, a <see cref="ConnectionDialer"/>
/// opens them, and a connection (framing, send queue, liveness, close reasons) runs on top.
/// </summary>
/// <remarks>
/// <para>Concurrency: the connection above runs one receive loop and one send loop, so at most
/// one <see cref="ReceiveAsync"/> and one <see cref="SendAsync"/> are in flight at once, on
/// different threads. <see cref="Dispose"/> may be called from any thread at any time, also
/// while both are pending, and must make them end (fail) promptly: it is how a connection
/// aborts, and why these methods take no <see cref="CancellationToken"/> — as with a socket,
/// closing is the cancellation, and the hot path pays for no token registration per call.</para>
/// <para>Errors tell the connection why it ended: throw a
/// <see cref="System.Net.Sockets.SocketException"/> when the peer reset or went away (the close
/// reason is <c>ConnectionReset</c>), an <see cref="InvalidDataException"/> when the peer broke
/// the transport's own protocol (<c>ProtocolError</c>); anything else is reported as
/// <c>TransportError</c> with the exception attached. Only the socket errors that mean "the
/// peer or the path went away" (reset, aborted, shut down, broken pipe, timed out, host or
/// network unreachable/down) count as a reset; other codes are <c>TransportError</c>. A
/// decorator's <see cref="IOException"/> wrapping either is read through.</para>
/// </remarks>
public abstract class Transport : IDisposable
{
    /// <summary>This side's address, for logs; null when the transport has none.</summary>
    public abstract EndPoint? LocalEndPoint { get; }

    /// <summary>The peer's address, for logs and per-address limits (an <see cref="IPEndPoint"/>
    /// is counted against a server's per-address limit; any other kind is not); null when unknown.</summary>
    public abstract EndPoint? RemoteEndPoint { get; }

    /// <summary>
    /// Receives into <paramref name="buffer"/> and returns how many bytes were written there,
    /// at least one; 0 means the peer finished sending (end of stream). An empty buffer waits
    /// until data is available without consuming any, and returns 0 — the connection uses it to
    /// rent a read buffer only once bytes have arrived. That wait must also end when the stream
    /// ends (return 0; the next real read then returns 0 too) or fails (throw), or the
    /// connection notices a departed peer only at its idle timeout.
    /// </summary>
    public abstract ValueTask<int> ReceiveAsync(Memory<byte> buffer);

    /// <summary>Writes all of <paramref name="buffer"/> (waiting while the peer does not read)
    /// and returns its length.</summary>
    public abstract ValueTask<int> SendAsync(ReadOnlyMemory<byte> buffer);

    /// <summary>
    /// Writes <paramref name="count"/> bytes of an open file, from <paramref name="offset"/>, as
    /// <see cref="SendAsync"/> would (same concurrency rule: not beside another send). A socket
    /// transport overrides it to let the kernel copy the file (<c>sendfile</c>), so a large file
    /// goes out without passing through managed buffers; the default reads it in 64 KiB pieces
    /// into one pooled buffer and sends each, for transports that cannot (TLS, shared memory).
    /// </summary>
    /// <param name="file">A handle open for reading; the caller keeps and closes it. Open it
    /// with <see cref="FileOptions.Asynchronous"/> to let a socket transport use <c>sendfile</c>.</param>
    /// <param name="offset">Where to start in the file.</param>
    /// <param name="count">How many bytes to send; the file must hold them (a file that shrank
    /// underneath throws <see cref="EndOfStreamException"/>).</param>
    /// <param name="cancellationToken">Stops between pieces; a piece under way ends only with <see cref="Dispose"/>.</param>
    public virtual async ValueTask SendFileAsync(SafeFileHandle file, long offset, long count, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        byte[] buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(count, 64 * 1024));
        try
        {
            while (count > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int read = RandomAccess.Read(file, buffer.AsSpan(0, (int)Math.Min(count, buffer.Length)), offset);
                if (read == 0)
                {
                    throw new EndOfStreamException("The file ended before the bytes asked for were sent.");
                }

                await SendAsync(buffer.AsMemory(0, read)).ConfigureAwait(false);
                offset += read;
                count -= read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Writes <paramref name="head"/> and then <paramref name="count"/> bytes of a file, as one
    /// send where the transport can (an HTTP response's head and its file body leave together).
    /// The default sends the head with <see cref="SendAsync"/>, then the file with
    /// <see cref="SendFileAsync(SafeFileHandle, long, long, CancellationToken)"/>.
    /// </summary>
    public virtual async ValueTask SendFileAsync(ReadOnlyMemory<byte> head, SafeFileHandle file, long offset, long count, CancellationToken cancellationToken = default)
    {
        if (!head.IsEmpty)
        {
            await SendAsync(head).ConfigureAwait(false);
        }

        await SendFileAsync(file, offset, count, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Bytes that arrived and are not read yet, when the transport can tell cheaply; 0 when it
    /// cannot or is closed. Liveness uses it: a peer whose bytes are waiting unread is alive even
    /// if the application is slow to read them. Default 0.
    /// </summary>
    public virtual int AvailableBytes => 0;

    /// <summary>
    /// Signals the end of this side's data after everything written so far (a FIN; over TLS a
    /// close_notify first). Receiving goes on. A peer that is already gone is not an error.
    /// </summary>
    public abstract ValueTask ShutdownSendAsync();

    /// <summary>
    /// As <see cref="ShutdownSendAsync()"/>, saying why the connection closes, for transports
    /// whose protocol carries a reason (a WebSocket's Close frame: 1001 when the server stops).
    /// The default ignores the reason.
    /// </summary>
    public virtual ValueTask ShutdownSendAsync(CloseReason reason) => ShutdownSendAsync();

    /// <summary>Closes at once (a reset where the transport has one), ending pending operations. Idempotent.</summary>
    public abstract void Dispose();
}
