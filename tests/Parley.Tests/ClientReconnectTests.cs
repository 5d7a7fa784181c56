using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Parley.Tests;

/// <summary>
/// Auto-reconnect treats every failed attempt alike — refused, timed out, a TLS handshake
/// refused or cut — reporting it through <see cref="ParleyClient.Error"/> and trying again per
/// the back-off, until it connects, gives up after the attempt limit, or is disposed.
/// </summary>
public class ClientReconnectTests
{
    private static ParleyServer StartServer(BufferPool pool, int port, X509Certificate2? certificate)
    {
        ParleyServerOptions options = TestSupport.ServerOptions(pool);
        options.EndPoint = new IPEndPoint(IPAddress.Loopback, port);
        options.Tls = certificate is null ? null : new TlsServerOptions { Certificate = certificate };
        var server = new ParleyServer(options);
        server.MessageReceived += (connection, message) => connection.Send(message);
        server.Start();
        return server;
    }

    private static ParleyClientOptions ReconnectingTlsClient(BufferPool pool, int port, int maxAttempts = 1_000_000) => new()
    {
        RemoteEndPoint = new IPEndPoint(IPAddress.Loopback, port),
        BufferPool = pool,
        Tls = new TlsClientOptions { TargetHost = "localhost", ServerCertificateValidation = TestCertificates.TrustTestRoot },
        AutoReconnect = true,
        ReconnectInitialDelay = TimeSpan.FromMilliseconds(5),
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(20),
        ReconnectMaxAttempts = maxAttempts,
    };

    private static int Count<T>(List<Exception> errors)
    {
        lock (errors)
        {
            return errors.Count(error => error is T);
        }
    }

    [Theory]
    [InlineData(true)]  // the impostor's certificate is refused: AuthenticationException
    [InlineData(false)] // the impostor speaks no TLS and cuts the handshake: IOException
    public async Task A_TLS_client_reports_every_failed_handshake_and_reconnects_once_a_valid_server_is_back_on_the_port(bool untrustedCertificate)
    {
        var pool = new BufferPool();
        ParleyServer server = StartServer(pool, 0, TestCertificates.Signed());
        int port = server.LocalEndPoint.Port;

        await using var client = new ParleyClient(ReconnectingTlsClient(pool, port));
        var errors = new List<Exception>();
        client.Error += (connection, error) =>
        {
            Assert.Null(connection);
            lock (errors)
            {
                errors.Add(error);
            }
        };
        int connects = 0;
        var reconnected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        client.Connected += _ =>
        {
            if (Interlocked.Increment(ref connects) == 2)
            {
                reconnected.TrySetResult();
            }
        };
        var echoed = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.MessageReceived += (_, message) => echoed.TrySetResult(message.ToArray());
        await client.ConnectAsync().Within();

        // The server goes away and an impostor takes its port.
        await server.StopAsync().Within();
        await using ParleyServer impostor = StartServer(pool, port, untrustedCertificate ? TestCertificates.Untrusted() : null);
        if (untrustedCertificate)
        {
            await TestSupport.Until(() => Count<AuthenticationException>(errors) >= 3, "three refused handshakes are reported");
        }
        else
        {
            await TestSupport.Until(() => Count<IOException>(errors) >= 3, "three cut handshakes are reported");
        }

        Assert.Equal(1, Volatile.Read(ref connects));
        await impostor.StopAsync().Within();

        // The real server is back: the client, still trying, connects and is served.
        await using ParleyServer back = StartServer(pool, port, TestCertificates.Signed());
        await reconnected.Task.Within();
        await TestSupport.Until(() => client.IsConnected, "the new connection is open");
        client.Send("after the impostor"u8);
        Assert.Equal("after the impostor"u8.ToArray(), await echoed.Task.Within());
        lock (errors)
        {
            Assert.All(errors, error => Assert.True(error is SocketException or AuthenticationException or IOException, error.ToString()));
            Assert.DoesNotContain(errors, error => error is ConnectionClosedException);
        }
    }

    [Fact]
    public async Task Disposing_a_client_whose_handshakes_keep_failing_ends_reconnecting_without_an_exception()
    {
        var pool = new BufferPool();
        ParleyServer server = StartServer(pool, 0, TestCertificates.Signed());
        int port = server.LocalEndPoint.Port;
        var client = new ParleyClient(ReconnectingTlsClient(pool, port));
        int refused = 0;
        client.Error += (_, error) =>
        {
            if (error is AuthenticationException)
            {
                Interlocked.Increment(ref refused);
            }
        };
        await client.ConnectAsync().Within();
        await server.StopAsync().Within();
        await using ParleyServer impostor = StartServer(pool, port, TestCertificates.Untrusted());
        await TestSupport.Until(() => Volatile.Read(ref refused) >= 1, "a refused handshake is reported");

        await client.DisposeAsync().AsTask().Within();
        Assert.False(client.IsConnected);
    }

    [Fact]
    public async Task After_the_attempt_limit_the_client_reports_each_failure_and_then_that_it_gave_up()
    {
        var pool = new BufferPool();
        ParleyServer server = StartServer(pool, 0, TestCertificates.Signed());
        int port = server.LocalEndPoint.Port;
        await using var client = new ParleyClient(ReconnectingTlsClient(pool, port, maxAttempts: 3));
        var errors = new List<Exception>();
        client.Error += (_, error) =>
        {
            lock (errors)
            {
                errors.Add(error);
            }
        };
        await client.ConnectAsync().Within();
        await server.StopAsync().Within(); // nobody listens on the port any more: each attempt is refused

        await TestSupport.Until(() => Count<ConnectionClosedException>(errors) == 1, "the client says it gave up");
        lock (errors)
        {
            Assert.Equal(4, errors.Count);
            Assert.All(errors.Take(3), error => Assert.IsType<SocketException>(error));
            var gaveUp = Assert.IsType<ConnectionClosedException>(errors[3]);
            Assert.Same(errors[2], gaveUp.InnerException);
        }
    }
}
