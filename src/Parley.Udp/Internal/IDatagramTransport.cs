using System.Net;

namespace Parley.Udp;

/// <summary>Where a host's datagrams go: a socket, a socket behind a loss/delay simulator, or an in-process simulated network.</summary>
internal interface IDatagramTransport
{
    /// <summary>Sends one datagram (fire and forget: a failure is a lost datagram).</summary>
    void Send(SocketAddress to, ReadOnlySpan<byte> datagram);
}

internal static class SocketAddresses
{
    /// <summary>A private copy (receive loops reuse their address object).</summary>
    public static SocketAddress Copy(SocketAddress address)
    {
        var copy = new SocketAddress(address.Family, address.Size);
        address.Buffer.Span[..address.Size].CopyTo(copy.Buffer.Span);
        return copy;
    }
}
