using System.Net;
using System.Net.Sockets;
using Microsoft.Win32.SafeHandles;

namespace Parley.Internal;

/// <summary>A <see cref="Transport"/> over a connected stream socket (TCP or Unix-domain).</summary>
internal sealed class SocketTransport : Transport
{
    private readonly Socket _socket;

    /// <summary>Takes ownership of <paramref name="socket"/> and applies the TCP settings; the
    /// caller disposes the socket when this throws (a peer that left before setup).</summary>
    public SocketTransport(Socket socket, SocketTransportOptions options)
    {
        _socket = socket;
        LocalEndPoint = socket.LocalEndPoint;
        RemoteEndPoint = socket.RemoteEndPoint;
        Configure(socket, options);
    }

    public override EndPoint? LocalEndPoint { get; }

    public override EndPoint? RemoteEndPoint { get; }

    private static void Configure(Socket socket, SocketTransportOptions options)
    {
        if (socket.ProtocolType != ProtocolType.Tcp)
        {
            return; // Unix-domain: no Nagle, no keep-alive probes
        }

        socket.NoDelay = options.NoDelay;
        if (options.TcpKeepAlive)
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, Seconds(options.TcpKeepAliveTime));
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, Seconds(options.TcpKeepAliveInterval));
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, options.TcpKeepAliveRetryCount);
        }
    }

    private static int Seconds(TimeSpan value) => Math.Max(1, (int)Math.Ceiling(value.TotalSeconds));

    public override ValueTask<int> ReceiveAsync(Memory<byte> buffer) =>
        _socket.ReceiveAsync(buffer, SocketFlags.None);

    public override ValueTask<int> SendAsync(ReadOnlyMemory<byte> buffer) =>
        _socket.SendAsync(buffer, SocketFlags.None);

    /// <summary>The kernel copies the file to the socket (<c>sendfile</c>, through
    /// <see cref="Socket.SendPacketsAsync(SocketAsyncEventArgs)"/>): no managed buffer, no read
    /// into user space. A Unix-domain socket takes the same path.</summary>
    public override async ValueTask SendFileAsync(SafeFileHandle file, long offset, long count, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count == 0)
        {
            return;
        }

        // SendPacketsElement takes an asynchronous FileStream. One over the caller's handle is
        // never disposed nor finalized (it would close the handle the caller owns); a handle
        // not opened for asynchronous use takes the base class's copying path.
        if (!file.IsAsync)
        {
            await base.SendFileAsync(file, offset, count, cancellationToken).ConfigureAwait(false);
            return;
        }

#pragma warning disable CA2000, CA1816 // deliberately neither disposed nor finalized: the handle is the caller's
        var stream = new FileStream(file, FileAccess.Read, bufferSize: 0, isAsync: true);
        GC.SuppressFinalize(stream);
#pragma warning restore CA2000, CA1816
        using var args = new SendFileArgs();
        while (count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int piece = (int)Math.Min(count, 1 << 30);
            args.SendPacketsElements = [new SendPacketsElement(stream, offset, piece, endOfPacket: false)];
            await args.SendAsync(_socket).ConfigureAwait(false);
            if (args.BytesTransferred != piece)
            {
                // The file ended early (it shrank): the peer was promised more bytes than exist.
                throw new EndOfStreamException($"The file ended {piece - args.BytesTransferred} bytes before the bytes asked for were sent.");
            }
            offset += piece;
            count -= piece;
        }
    }

    public override int AvailableBytes
    {
        get
        {
            try
            {
                return _socket.Available;
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // Closed or failing: nothing is waiting that could prove the peer alive.
                return 0;
            }
        }
    }

    public override ValueTask ShutdownSendAsync()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // The peer is already gone; there is nothing left to signal.
        }
        catch (ObjectDisposedException)
        {
            // Aborted concurrently; same as above.
        }

        return ValueTask.CompletedTask;
    }

    public override void Dispose() => _socket.Dispose();

    // One SendPacketsAsync as an awaitable: the completion (inline or later) becomes a task.
    private sealed class SendFileArgs : SocketAsyncEventArgs
    {
        private TaskCompletionSource? _completion;

        public Task SendAsync(Socket socket)
        {
            _completion = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!socket.SendPacketsAsync(this))
            {
                OnCompleted(this);
            }

            return _completion.Task;
        }

        protected override void OnCompleted(SocketAsyncEventArgs e)
        {
            TaskCompletionSource completion = _completion!;
            if (SocketError == SocketError.Success)
            {
                completion.TrySetResult();
            }
            else
            {
                completion.TrySetException(new SocketException((int)SocketError));
            }
        }
    }
}
