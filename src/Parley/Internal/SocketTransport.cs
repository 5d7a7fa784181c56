using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Parley.Internal;

/// <summary>A <see cref="Transport"/> over a connected stream socket (TCP or Unix-domain).</summary>
internal sealed class SocketTransport : Transport
{
    private static readonly byte[] s_one = BitConverter.GetBytes(1);
    private static readonly byte[] s_zero = BitConverter.GetBytes(0);

    private readonly Socket _socket;
    private SendFileArgs? _sendFileArgs;

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
    public override ValueTask SendFileAsync(SafeFileHandle file, long offset, long count, CancellationToken cancellationToken = default) =>
        SendFileAsync(ReadOnlyMemory<byte>.Empty, file, offset, count, cancellationToken);

    /// <summary>The head, then the file by <c>sendfile</c>, under TCP_CORK so the head rides in the
    /// file's first segment (nginx's <c>sendfile</c> + <c>tcp_nopush</c>). On Linux the file goes
    /// by a direct <c>sendfile</c> call while the socket takes it, and only what does not fit
    /// waits in <see cref="Socket.SendPacketsAsync(SocketAsyncEventArgs)"/>.</summary>
    public override async ValueTask SendFileAsync(ReadOnlyMemory<byte> head, SafeFileHandle file, long offset, long count, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (!file.IsAsync || count == 0)
        {
            // SendPacketsElement takes only an asynchronous FileStream: other handles are copied
            // (the base class's copying overload; the other one would come back here).
            if (!head.IsEmpty)
            {
                await SendAsync(head).ConfigureAwait(false);
            }

            await base.SendFileAsync(file, offset, count, cancellationToken).ConfigureAwait(false);
            return;
        }

        bool cork = !head.IsEmpty && Cork(true);
        try
        {
            if (!head.IsEmpty)
            {
                await SendAsync(head).ConfigureAwait(false);
                head = ReadOnlyMemory<byte>.Empty;
            }

            // First the kernel call itself, on this thread: on Linux, while the socket takes it,
            // the whole file goes in one sendfile with no wait and no hop.
            if (OperatingSystem.IsLinux())
            {
                long sent = SendFileNow(file, offset, count);
                offset += sent;
                count -= sent;
            }

            if (count > 0)
            {
                await SendPacketsAsync(file, offset, count, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            if (cork)
            {
                Cork(false);
            }
        }
    }

    // What the socket takes now, by sendfile(2) straight from the file to the socket: stops at
    // the first "would block" (the rest waits for room in SendPacketsAsync). A file that ends
    // early throws; so does a failed socket.
    private long SendFileNow(SafeFileHandle file, long offset, long count)
    {
        bool socketAdded = false;
        bool fileAdded = false;
        long start = offset;
        try
        {
            _socket.SafeHandle.DangerousAddRef(ref socketAdded);
            file.DangerousAddRef(ref fileAdded);
            int socketDescriptor = (int)_socket.SafeHandle.DangerousGetHandle();
            int fileDescriptor = (int)file.DangerousGetHandle();
            while (count > 0)
            {
                nint sent = NativeSendFile(socketDescriptor, fileDescriptor, ref offset, (nuint)Math.Min(count, 1 << 30));
                if (sent > 0)
                {
                    count -= sent; // the kernel moved offset on
                    continue;
                }

                if (sent == 0)
                {
                    throw new EndOfStreamException($"The file ended {count} bytes before the bytes asked for were sent.");
                }

                int error = Marshal.GetLastPInvokeError();
                if (error is 11 /* EAGAIN */ or 4 /* EINTR */)
                {
                    if (error == 11)
                    {
                        break;
                    }

                    continue;
                }

                throw new SocketException(error == 32 /* EPIPE */ ? (int)SocketError.ConnectionReset : error);
            }

            return offset - start;
        }
        finally
        {
            if (fileAdded)
            {
                file.DangerousRelease();
            }

            if (socketAdded)
            {
                _socket.SafeHandle.DangerousRelease();
            }
        }
    }

    [DllImport("libc", EntryPoint = "sendfile", SetLastError = true)]
    private static extern nint NativeSendFile(int socket, int file, ref long offset, nuint count);

    // The rest of a file once the socket is full: SendPacketsAsync waits for room (and on other
    // systems does all of it). The stream and the event args are kept for the next call (sends
    // are one at a time): a connection sending the same file again reuses both.
    private async ValueTask SendPacketsAsync(SafeFileHandle file, long offset, long count, CancellationToken cancellationToken)
    {
        // SendPacketsElement takes a FileStream. This one borrows the caller's handle and is
        // never disposed nor finalized (either would close that handle); it lives for this call
        // only, so a connection holds no file once its send is done.
#pragma warning disable CA2000, CA1816
        var stream = new FileStream(file, FileAccess.Read, bufferSize: 0, isAsync: true);
        GC.SuppressFinalize(stream);
#pragma warning restore CA2000, CA1816
        SendFileArgs args = _sendFileArgs ??= new SendFileArgs();
        try
        {
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
        finally
        {
            args.SendPacketsElements = null;
        }
    }

    private bool Cork(bool on)
    {
        if (_socket.ProtocolType != ProtocolType.Tcp || !OperatingSystem.IsLinux())
        {
            return false;
        }

        try
        {
            _socket.SetRawSocketOption(6 /* IPPROTO_TCP */, 3 /* TCP_CORK */, on ? s_one : s_zero);
            return true;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return false; // gone or refused: uncorked sends are merely slower
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

    public override void Dispose()
    {
        _socket.Dispose();
        _sendFileArgs?.Dispose();
    }

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
