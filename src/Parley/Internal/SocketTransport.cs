using System.Net;
using System.Net.Sockets;
using Microsoft.Win32.SafeHandles;

namespace Parley.Internal;

/// <summary>A <see cref="Transport"/> over a connected stream socket (TCP or Unix-domain).</summary>
internal sealed class SocketTransport : Transport
{
    private readonly Socket _socket;
    private SendFileArgs? _sendFileArgs;
    private SafeFileHandle? _sendFileHandle;
    private FileStream? _sendFileStream;

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

    /// <summary>The head and the file in one <see cref="Socket.SendPacketsAsync(SocketAsyncEventArgs)"/>
    /// under TCP_CORK, so the head rides in the file's first segment as with nginx's
    /// <c>tcp_nopush</c>; <c>sendfile</c> for the file.</summary>
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

        // The stream and the event args are kept for the next call (sends are one at a time): a
        // connection sending the same file again reuses both.
        FileStream stream = StreamFor(file);
        SendFileArgs args = _sendFileArgs ??= new SendFileArgs();
        bool cork = !head.IsEmpty && Cork(true);
        try
        {
            while (count > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int piece = (int)Math.Min(count, 1 << 30);
                var element = new SendPacketsElement(stream, offset, piece, endOfPacket: false);
                args.SendPacketsElements = head.IsEmpty ? [element] : [new SendPacketsElement(head, endOfPacket: false), element];
                await args.SendAsync(_socket).ConfigureAwait(false);
                if (args.BytesTransferred != piece + head.Length)
                {
                    // The file ended early (it shrank): the peer was promised more bytes than exist.
                    throw new EndOfStreamException($"The file ended {piece + head.Length - args.BytesTransferred} bytes before the bytes asked for were sent.");
                }

                head = ReadOnlyMemory<byte>.Empty;
                offset += piece;
                count -= piece;
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

    private bool Cork(bool on)
    {
        if (_socket.ProtocolType != ProtocolType.Tcp || !OperatingSystem.IsLinux())
        {
            return false;
        }

        try
        {
            _socket.SetRawSocketOption(6 /* IPPROTO_TCP */, 3 /* TCP_CORK */, BitConverter.GetBytes(on ? 1 : 0));
            return true;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return false; // gone or refused: uncorked sends are merely slower
        }
    }

    private FileStream StreamFor(SafeFileHandle file)
    {
        if (_sendFileStream is { } cached && ReferenceEquals(_sendFileHandle, file))
        {
            return cached;
        }

        // Never disposed nor finalized: that would close the handle, which is the caller's.
#pragma warning disable CA2000, CA1816
        var stream = new FileStream(file, FileAccess.Read, bufferSize: 0, isAsync: true);
        GC.SuppressFinalize(stream);
#pragma warning restore CA2000, CA1816
        _sendFileHandle = file;
        _sendFileStream = stream;
        return stream;
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
        _sendFileStream = null;
        _sendFileHandle = null;
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
