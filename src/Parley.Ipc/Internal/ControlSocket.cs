using System.Net.Sockets;

namespace Parley.Ipc;

/// <summary>Watches a channel's rendezvous socket, which carries nothing after the handshake: its end means the peer is gone.</summary>
internal static class ControlSocket
{
    public static async Task WatchAsync(Socket socket, Action ended)
    {
        byte[] buffer = new byte[1];
        try
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None).ConfigureAwait(false) > 0)
            {
                // Nothing is sent on the control socket after the handshake; stray bytes are ignored.
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Reset, or closed locally: the same as an end of stream for the caller.
        }

        ended();
    }
}
