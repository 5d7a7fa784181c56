using System.Net;
using System.Net.Security;
using System.Net.Sockets;

namespace Parley.Tests;

public sealed class TlsConnectionListenerTests
{
    private static async Task<SslStream> ConnectTlsAsync(EndPoint endPoint)
    {
        var client = new TcpClient();
        await client.ConnectAsync((IPEndPoint)endPoint);
        var ssl = new SslStream(client.GetStream(), leaveInnerStreamOpen: false, TestCertificates.TrustTestRoot);
        await ssl.AuthenticateAsClientAsync("localhost");
        return ssl;
    }

    [Fact]
    public async Task A_client_that_never_starts_its_handshake_does_not_hold_up_the_next()
    {
        using var listener = new TlsConnectionListener(
            new SocketConnectionListener(new IPEndPoint(IPAddress.Loopback, 0)),
            new TlsServerOptions { Certificate = TestCertificates.Signed(), HandshakeTimeout = TimeSpan.FromMinutes(5) });
        listener.Start();
        using var silent = new TcpClient();
        await silent.ConnectAsync((IPEndPoint)listener.LocalEndPoint!);
        await TestSupport.Until(() => listener.HandshakesInProgress == 1, "the silent client's handshake started");

        Task<SslStream> honest = ConnectTlsAsync(listener.LocalEndPoint!);
        using Transport accepted = await listener.AcceptAsync().AsTask().Within();
        await using SslStream client = await honest.Within();

        await client.WriteAsync("ping"u8.ToArray());
        byte[] buffer = new byte[4];
        int read = await accepted.ReceiveAsync(buffer).AsTask().Within();
        Assert.Equal("ping"u8.ToArray(), buffer[..read]);
        Assert.Equal(1, listener.HandshakesInProgress); // the silent one, still waiting
    }

    [Fact]
    public async Task Handshakes_past_the_per_address_limit_are_closed_at_once()
    {
        using var listener = new TlsConnectionListener(
            new SocketConnectionListener(new IPEndPoint(IPAddress.Loopback, 0)),
            new TlsServerOptions { Certificate = TestCertificates.Signed(), MaxHandshakesPerAddress = 2, HandshakeTimeout = TimeSpan.FromMinutes(5) });
        listener.Start();
        var silent = new List<TcpClient>();
        for (int i = 0; i < 2; i++)
        {
            var client = new TcpClient();
            await client.ConnectAsync((IPEndPoint)listener.LocalEndPoint!);
            silent.Add(client);
        }

        await TestSupport.Until(() => listener.HandshakesInProgress == 2, "two handshakes under way");
        using var third = new TcpClient();
        await third.ConnectAsync((IPEndPoint)listener.LocalEndPoint!);

        byte[] buffer = new byte[1];
        int read = await third.GetStream().ReadAsync(buffer).AsTask().Within(); // closed without a word
        Assert.Equal(0, read);
        Assert.Equal(2, listener.HandshakesInProgress);
        foreach (TcpClient client in silent)
        {
            client.Dispose();
        }
    }
}
