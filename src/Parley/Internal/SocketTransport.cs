using System.Net;
using System.Net.Sockets;

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
}
