using System.Net.Sockets;

namespace Parley.Contract.Tests;

/// <summary>A Unix-domain socket listener's file: replaced when stale, never taken from a live server, removed on stop.</summary>
public sealed class UnixSocketListenerTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static string NewPath() => Path.Combine(Path.GetTempPath(), $"parley-unix-{Guid.NewGuid():N}.sock");

    [Fact]
    public async Task A_socket_file_left_by_a_dead_server_is_replaced()
    {
        // .NET removes the file of a socket it closes; a killed process leaves it. Simulate that:
        // bind elsewhere, move the file to the path (rename keeps it a socket), close.
        string path = NewPath();
        string elsewhere = NewPath();
        using (var dead = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            dead.Bind(new UnixDomainSocketEndPoint(elsewhere));
            dead.Listen();
            File.Move(elsewhere, path);
        }

        Assert.True(File.Exists(path), "the stale socket file is in place");
        await using var server = new ParleyServer(new ParleyServerOptions().Listen(new SocketConnectionListener(new UnixDomainSocketEndPoint(path))));
        server.Start();
        await using Connection client = await ParleyClient.OpenConnectionAsync(
            new ParleyClientOptions { Dialer = new SocketConnectionDialer(new UnixDomainSocketEndPoint(path)) }).WaitAsync(Timeout);
        Assert.Equal(ConnectionState.Open, client.State);
    }

    [Fact]
    public async Task A_second_server_cannot_take_the_socket_of_a_live_one()
    {
        string path = NewPath();
        await using var first = new ParleyServer(new ParleyServerOptions().Listen(new SocketConnectionListener(new UnixDomainSocketEndPoint(path))));
        first.Start();

        await using var second = new ParleyServer(new ParleyServerOptions().Listen(new SocketConnectionListener(new UnixDomainSocketEndPoint(path))));
        SocketException error = Assert.Throws<SocketException>(() => second.Start());
        Assert.Equal(SocketError.AddressAlreadyInUse, error.SocketErrorCode);

        // The first server still has its file and its clients.
        Assert.True(File.Exists(path));
        await using Connection client = await ParleyClient.OpenConnectionAsync(
            new ParleyClientOptions { Dialer = new SocketConnectionDialer(new UnixDomainSocketEndPoint(path)) }).WaitAsync(Timeout);
        Assert.Equal(ConnectionState.Open, client.State);
    }

    [Fact]
    public async Task Stopping_a_server_removes_its_socket_file_and_refuses_new_clients()
    {
        string path = NewPath();
        var server = new ParleyServer(new ParleyServerOptions().Listen(new SocketConnectionListener(new UnixDomainSocketEndPoint(path))));
        server.Start();
        Assert.Equal($"unix:{path}", server.Listeners.Single().Address);
        await server.StopAsync().WaitAsync(Timeout);
        Assert.False(File.Exists(path));
        await Assert.ThrowsAsync<SocketException>(() => ParleyClient.OpenConnectionAsync(
            new ParleyClientOptions { Dialer = new SocketConnectionDialer(new UnixDomainSocketEndPoint(path)) }).WaitAsync(Timeout));
    }
}
