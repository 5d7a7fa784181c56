using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;

namespace Parley.Contract.Tests;

/// <summary>
/// A transport implemented outside Parley (PipeTransport, from public API only) carries a
/// server and its clients exactly as TCP does: framing, echo, close reasons, TLS on top, and
/// several listeners in one server.
/// </summary>
public sealed class TransportContractTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static ParleyServer EchoServer(ParleyServerOptions options)
    {
        var server = new ParleyServer(options);
        server.MessageReceived += static (connection, message) => connection.Send(message);
        return server;
    }

    private static async Task<string> RoundTripAsync(Connection connection, IAsyncEnumerator<ReadOnlySequence<byte>> messages, string text)
    {
        await connection.SendAsync(Encoding.UTF8.GetBytes(text)).AsTask().WaitAsync(Timeout);
        return await NextAsync(messages);
    }

    private static async Task<string> NextAsync(IAsyncEnumerator<ReadOnlySequence<byte>> messages)
    {
        if (!await messages.MoveNextAsync().AsTask().WaitAsync(Timeout))
        {
            throw new InvalidOperationException("The connection ended before the message arrived.");
        }

        return Encoding.UTF8.GetString(messages.Current);
    }

    [Fact]
    public async Task A_server_accepts_and_echoes_over_a_transport_written_outside_Parley()
    {
        var listener = new PipeListener("echo");
        await using ParleyServer server = EchoServer(new ParleyServerOptions().Listen(listener));
        server.Start();
        Assert.True(listener.Started);

        await using Connection client = await ParleyClient.OpenConnectionAsync(new ParleyClientOptions { Dialer = listener.Dialer() }).WaitAsync(Timeout);
        await using IAsyncEnumerator<ReadOnlySequence<byte>> messages = client.ReadMessagesAsync().GetAsyncEnumerator();
        Assert.Equal("hello", await RoundTripAsync(client, messages, "hello"));

        // Large messages cross many transport writes and reads, framed the same as over TCP.
        string large = new('x', 300_000);
        Assert.Equal(large, await RoundTripAsync(client, messages, large));
        // The transport counts a write once its flush returns, which can be after the peer has
        // read the bytes: wait for the count rather than race it.
        await WaitUntilAsync(() => Volatile.Read(ref listener.ServerEnds.Single().BytesSent) > 300_000);
        Assert.Equal("pipe-client:1", server.Connections.Single().RemoteEndPoint?.ToString());

        await server.StopAsync().WaitAsync(Timeout);
        Assert.True(listener.Disposed);
    }

    [Fact]
    public async Task A_peer_closing_or_resetting_a_custom_transport_gives_the_same_close_reasons_as_TCP()
    {
        var listener = new PipeListener("close");
        var closed = new TaskCompletionSource<CloseReason>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using ParleyServer server = EchoServer(new ParleyServerOptions().Listen(listener));
        server.Disconnected += connection => closed.TrySetResult(connection.CloseReason);
        server.Start();

        Connection graceful = await ParleyClient.OpenConnectionAsync(new ParleyClientOptions { Dialer = listener.Dialer() }).WaitAsync(Timeout);
        await graceful.CloseAsync().WaitAsync(Timeout);
        Assert.Equal(CloseReason.RemoteClose, await closed.Task.WaitAsync(Timeout));

        closed = new TaskCompletionSource<CloseReason>(TaskCreationOptions.RunContinuationsAsynchronously);
        Connection rude = await ParleyClient.OpenConnectionAsync(new ParleyClientOptions { Dialer = listener.Dialer() }).WaitAsync(Timeout);
        rude.Abort();
        Assert.Equal(CloseReason.ConnectionReset, await closed.Task.WaitAsync(Timeout));
    }

    [Fact]
    public async Task TLS_runs_over_a_custom_transport_on_both_sides()
    {
        using var certificate = TestCertificate.Create("pipe.test");
        var listener = new PipeListener("tls");
        await using ParleyServer server = EchoServer(new ParleyServerOptions().Listen(listener, new TlsServerOptions { Certificate = certificate }));
        server.Start();

        var options = new ParleyClientOptions
        {
            Dialer = listener.Dialer(host: "pipe.test"),
            Tls = new TlsClientOptions { ServerCertificateValidation = TestCertificate.Trust(certificate) },
        };
        await using Connection client = await ParleyClient.OpenConnectionAsync(options).WaitAsync(Timeout);
        await using IAsyncEnumerator<ReadOnlySequence<byte>> messages = client.ReadMessagesAsync().GetAsyncEnumerator();
        Assert.Equal("secret", await RoundTripAsync(client, messages, "secret"));

        // What crossed the custom transport is TLS records, not the plaintext.
        PipeTransport serverEnd = listener.ServerEnds.Single();
        Assert.True(serverEnd.BytesSent > "secret".Length + 4);
    }

    [Fact]
    public async Task A_client_that_expects_another_name_refuses_the_server_over_a_custom_transport()
    {
        using var certificate = TestCertificate.Create("pipe.test");
        var listener = new PipeListener("tls-refused");
        await using ParleyServer server = EchoServer(new ParleyServerOptions().Listen(listener, new TlsServerOptions { Certificate = certificate }));
        server.Start();

        var options = new ParleyClientOptions
        {
            Dialer = listener.Dialer(),
            Tls = new TlsClientOptions { TargetHost = "someone.else", ServerCertificateValidation = TestCertificate.Trust(certificate) },
        };
        await Assert.ThrowsAsync<AuthenticationException>(() => ParleyClient.OpenConnectionAsync(options).WaitAsync(Timeout));
        Assert.Equal(0, server.ConnectionCount);
    }

    [Fact]
    public void TLS_over_a_dialer_without_a_host_name_needs_a_target_host()
    {
        var listener = new PipeListener("no-host");
        var options = new ParleyClientOptions { Dialer = listener.Dialer(), Tls = new TlsClientOptions() };
        ArgumentException error = Assert.Throws<ArgumentException>(() => new ParleyClient(options));
        Assert.Contains("TargetHost", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Server_TLS_options_for_the_default_endpoint_cannot_be_mixed_with_explicit_listeners()
    {
        using var certificate = TestCertificate.Create("mixed.test");
        var options = new ParleyServerOptions { Tls = new TlsServerOptions { Certificate = certificate } }.Listen(new PipeListener("mixed"));
        ArgumentException error = Assert.Throws<ArgumentException>(() => new ParleyServer(options));
        Assert.Contains("Listen(listener, tls)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task One_server_accepts_TCP_a_Unix_socket_in_memory_and_a_custom_transport_at_once()
    {
        string path = Path.Combine(Path.GetTempPath(), $"parley-contract-{Guid.NewGuid():N}.sock");
        var tcp = new SocketConnectionListener(new IPEndPoint(IPAddress.Loopback, 0));
        var unix = new SocketConnectionListener(new UnixDomainSocketEndPoint(path));
        var memory = new InMemoryConnectionListener("together");
        var pipe = new PipeListener("together");
        await using var server = new ParleyServer(new ParleyServerOptions().Listen(tcp).Listen(unix).Listen(memory).Listen(pipe));
        server.MessageReceived += (_, message) => server.Broadcast(message);
        server.Start();
        Assert.Equal(4, server.Listeners.Count);
        Assert.True(File.Exists(path));

        ConnectionDialer[] dialers =
        [
            new SocketConnectionDialer(server.LocalEndPoint),
            new SocketConnectionDialer(new UnixDomainSocketEndPoint(path)),
            memory.CreateDialer(),
            pipe.Dialer(),
        ];
        var clients = new List<Connection>();
        foreach (ConnectionDialer dialer in dialers)
        {
            clients.Add(await ParleyClient.OpenConnectionAsync(new ParleyClientOptions { Dialer = dialer }).WaitAsync(Timeout));
        }

        await WaitUntilAsync(() => server.ConnectionCount == 4);

        // One broadcast from the Unix-socket client reaches every client, whatever carries it.
        await clients[1].SendAsync(Encoding.UTF8.GetBytes("to everyone")).AsTask().WaitAsync(Timeout);
        foreach (Connection client in clients)
        {
            await using IAsyncEnumerator<ReadOnlySequence<byte>> messages = client.ReadMessagesAsync().GetAsyncEnumerator();
            Assert.Equal("to everyone", await NextAsync(messages));
        }

        await server.StopAsync().WaitAsync(Timeout);
        Assert.False(File.Exists(path), "the Unix socket's file is removed when the server stops");
        foreach (Connection client in clients)
        {
            await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_listener_that_fails_to_start_leaves_no_other_listener_open()
    {
        var first = new PipeListener("first");
        var failing = new FailingListener();
        await using var server = new ParleyServer(new ParleyServerOptions().Listen(first).Listen(failing));
        Assert.Throws<SocketException>(() => server.Start());
        Assert.True(first.Disposed, "a listener started before the failure is closed again");
    }

    [Fact]
    public async Task A_refused_connection_over_a_custom_transport_gets_the_refusal_message()
    {
        var listener = new PipeListener("full");
        await using ParleyServer server = EchoServer(new ParleyServerOptions
        {
            MaxConnections = 1,
            RefusalMessage = reason => Encoding.UTF8.GetBytes($"refused: {reason}"),
        }.Listen(listener));
        server.Start();

        await using Connection first = await ParleyClient.OpenConnectionAsync(new ParleyClientOptions { Dialer = listener.Dialer() }).WaitAsync(Timeout);
        await WaitUntilAsync(() => server.ConnectionCount == 1);
        await using Connection second = await ParleyClient.OpenConnectionAsync(new ParleyClientOptions { Dialer = listener.Dialer() }).WaitAsync(Timeout);
        string? said = null;
        await foreach (ReadOnlySequence<byte> message in second.ReadMessagesAsync().WithCancellation(new CancellationTokenSource(Timeout).Token))
        {
            said = Encoding.UTF8.GetString(message);
        }

        Assert.Equal("refused: ConnectionLimit", said);
        Assert.Equal(CloseReason.RemoteClose, second.CloseReason);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var deadline = new CancellationTokenSource(Timeout);
        while (!condition())
        {
            await Task.Delay(10, deadline.Token);
        }
    }

    private sealed class FailingListener : ConnectionListener
    {
        public override string Address => "failing";

        public override void Start() => throw new SocketException((int)SocketError.AddressAlreadyInUse);

        public override ValueTask<Transport> AcceptAsync(CancellationToken cancellationToken = default) => throw new InvalidOperationException();

        public override void Dispose()
        {
        }
    }
}
