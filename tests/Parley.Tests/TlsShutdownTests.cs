using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Parley.Tests;

/// <summary>StopAsync and TLS handshakes in flight: none may outlive it or register a connection after it began.</summary>
public class TlsShutdownTests
{
    [Fact]
    public async Task A_handshake_that_completes_after_StopAsync_began_is_closed_never_connected_and_StopAsync_waits_for_it()
    {
        var pool = new BufferPool();
        var logs = new CapturingLoggerFactory();
        X509Certificate2 clientCertificate = TestCertificates.Signed("client");
        var validating = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var gate = new ManualResetEventSlim();
        ParleyServerOptions options = TestSupport.ServerOptions(pool);
        options.LoggerFactory = logs;
        options.Tls = new TlsServerOptions
        {
            Certificate = TestCertificates.Signed(),
            ClientCertificateRequired = true,

            // Holds the server's handshake at its last step, where the stopping token cannot cancel it.
            ClientCertificateValidation = (_, certificate, _, _) =>
            {
                validating.TrySetResult();
                return gate.Wait(TestSupport.Timeout) && certificate is not null;
            },
        };
        var server = new ParleyServer(options);
        int connected = 0;
        server.Connected += _ => Interlocked.Increment(ref connected);
        server.MessageReceived += (connection, message) => connection.Send(message);
        server.Start();

        using Socket socket = await TestSupport.ConnectRawAsync(server);
        await using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false));
        Task clientHandshake = ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ClientCertificates = [clientCertificate],
            RemoteCertificateValidationCallback = TestCertificates.TrustTestRoot,
        });
        await validating.Task.Within();

        // Finish the handshake once StopAsync waits for it (or, were it untracked, has returned without it).
        Task stop = server.StopAsync();
        await TestSupport.Until(() => stop.IsCompleted || logs.Contains(212, "TLS handshakes"), "StopAsync waits for the handshake or has returned");
        bool returnedDuringHandshake = stop.IsCompleted;
        gate.Set();
        await stop.Within();

        Assert.False(returnedDuringHandshake, "StopAsync returned while a handshake was in progress");

        // Logged by the handshake's own task as it ends, so StopAsync returned after that task ended.
        Assert.True(logs.Contains(213, "after the server began stopping"), "the completed handshake was closed, and that before StopAsync returned");
        Assert.Equal(0, server.HandshakeTasksInFlight);

        // The client may complete its side (with TLS 1.3 it finishes first) but is never served.
        try
        {
            await clientHandshake.Within();
            await ssl.WriteAsync(TestSupport.LengthPrefixed("hello"u8.ToArray())).AsTask().Within();
            byte[] buffer = new byte[64];
            Assert.Equal(0, await ssl.ReadAsync(buffer).AsTask().Within());
        }
        catch (Exception ex) when (ex is IOException or AuthenticationException)
        {
            // Closed under the handshake or the first read: not served either.
        }

        Assert.Equal(0, Volatile.Read(ref connected));
        Assert.Equal(0, server.ConnectionCount);
        await server.DisposeAsync();
        await TestSupport.Until(() => pool.Outstanding == 0, "every pooled buffer is back");
    }

    [Fact]
    public async Task StopAsync_cancels_a_handshake_that_never_started_and_returns_after_it_ended()
    {
        var pool = new BufferPool();
        var logs = new CapturingLoggerFactory();
        ParleyServerOptions options = TestSupport.ServerOptions(pool);
        options.LoggerFactory = logs;
        options.Tls = new TlsServerOptions { Certificate = TestCertificates.Signed(), HandshakeTimeout = TimeSpan.FromMinutes(5) };
        var server = new ParleyServer(options);
        server.Start();

        using Socket silent = await TestSupport.ConnectRawAsync(server); // connects, never says hello
        await TestSupport.Until(() => server.HandshakeTasksInFlight == 1, "the handshake is in progress (waiting for its first bytes)");

        await server.StopAsync().Within();
        Assert.True(logs.Contains(206, "server stopping"), "the handshake was cancelled and ended before StopAsync returned");
        Assert.Equal(0, server.HandshakesInProgress);
        Assert.Equal(0, server.HandshakeTasksInFlight);

        byte[] buffer = new byte[64];
        try
        {
            Assert.Equal(0, await silent.ReceiveAsync(buffer).Within());
        }
        catch (SocketException)
        {
            // Reset: closed too.
        }
    }
}
