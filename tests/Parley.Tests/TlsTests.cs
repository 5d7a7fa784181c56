using System.Buffers;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Parley.Tests;

public class TlsTests
{
    private static X509Certificate2 Certificate(string name, DateTimeOffset notBefore, DateTimeOffset notAfter, X509Certificate2? issuer = null, bool authority = false) =>
        TestCertificates.Create(name, notBefore, notAfter, issuer, authority);

    private static X509Certificate2 Root => TestCertificates.Root;

    private static X509Certificate2 ServerCertificate(string host = "localhost", bool expired = false) => Certificate(
        host,
        DateTimeOffset.UtcNow.AddDays(expired ? -10 : -1),
        DateTimeOffset.UtcNow.AddDays(expired ? -2 : 10),
        Root);

    private static bool TrustTestRoot(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors) =>
        TestCertificates.TrustTestRoot(sender, certificate, chain, errors);

    private static ParleyServer StartServer(BufferPool pool, TlsServerOptions tls, Action<Connection, ReadOnlySequence<byte>>? onMessage = null)
    {
        ParleyServerOptions options = TestSupport.ServerOptions(pool);
        options.Tls = tls;
        var server = new ParleyServer(options);
        server.MessageReceived += (connection, message) => (onMessage ?? ((c, m) => c.Send(m)))(connection, message);
        server.Start();
        return server;
    }

    private static ParleyClientOptions Client(ParleyServer server, BufferPool pool, TlsClientOptions tls)
    {
        ParleyClientOptions options = TestSupport.ClientOptions(server, pool);
        options.RemoteEndPoint = new DnsEndPoint("localhost", ((IPEndPoint)server.LocalEndPoint!).Port);
        options.Tls = tls;
        return options;
    }

    [Fact]
    public async Task Framed_messages_and_a_broadcast_travel_over_TLS_unchanged()
    {
        var pool = new BufferPool();
        ParleyServer? broadcaster = null;
        await using ParleyServer server = StartServer(pool, new TlsServerOptions { Certificate = ServerCertificate() }, (_, m) => broadcaster!.Broadcast(m));
        broadcaster = server;
        var tls = new TlsClientOptions { ServerCertificateValidation = TrustTestRoot };
        var connections = new List<Connection>();
        for (int i = 0; i < 3; i++)
        {
            connections.Add(await ParleyClient.OpenConnectionAsync(Client(server, pool, tls)).Within());
        }

        await TestSupport.Until(() => server.Everyone.Count == 3, "all three are connected and in the broadcast group");
        byte[] big = RandomNumberGenerator.GetBytes(200_000);
        connections[0].Send(big);
        connections[0].Send("small"u8);
        foreach (Connection connection in connections)
        {
            await using IAsyncEnumerator<ReadOnlySequence<byte>> messages = connection.ReadMessagesAsync().GetAsyncEnumerator();
            Assert.True(await messages.MoveNextAsync().AsTask().Within());
            Assert.Equal(big, messages.Current.ToArray());
            Assert.True(await messages.MoveNextAsync().AsTask().Within());
            Assert.Equal("small"u8.ToArray(), messages.Current.ToArray());
        }

        foreach (Connection connection in connections)
        {
            await connection.CloseAsync().Within();
            Assert.Equal(CloseReason.LocalClose, connection.CloseReason);
        }
    }

    [Theory]
    [InlineData("untrusted")]
    [InlineData("wrong-host")]
    [InlineData("expired")]
    public async Task A_bad_server_certificate_is_refused_by_default(string problem)
    {
        var pool = new BufferPool();
        X509Certificate2 certificate = problem switch
        {
            "untrusted" => Certificate("localhost", DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1)),
            "wrong-host" => ServerCertificate("not-this-host.example"),
            _ => ServerCertificate(expired: true),
        };
        await using ParleyServer server = StartServer(pool, new TlsServerOptions { Certificate = certificate });
        var tls = problem == "untrusted" ? new TlsClientOptions() : new TlsClientOptions { ServerCertificateValidation = TrustTestRoot };
        await Assert.ThrowsAsync<AuthenticationException>(() => ParleyClient.OpenConnectionAsync(Client(server, pool, tls)).Within());
    }

    [Fact]
    public async Task The_insecure_option_accepts_a_self_signed_development_certificate()
    {
        var pool = new BufferPool();
        await using ParleyServer server = StartServer(pool, new TlsServerOptions { Certificate = Certificate("localhost", DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1)) });
        await using Connection connection = await ParleyClient.OpenConnectionAsync(Client(server, pool, new TlsClientOptions { AllowUntrustedServerCertificate = true })).Within();
        connection.Send("ping"u8);
        await using IAsyncEnumerator<ReadOnlySequence<byte>> messages = connection.ReadMessagesAsync().GetAsyncEnumerator();
        Assert.True(await messages.MoveNextAsync().AsTask().Within());
        Assert.Equal("ping"u8.ToArray(), messages.Current.ToArray());
    }

    [Fact]
    public async Task A_server_requiring_client_certificates_admits_the_known_one_and_refuses_a_client_without()
    {
        var pool = new BufferPool();
        X509Certificate2 clientCertificate = Certificate("client", DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1), Root);
        await using ParleyServer server = StartServer(pool, new TlsServerOptions
        {
            Certificate = ServerCertificate(),
            ClientCertificateRequired = true,
            ClientCertificateValidation = (_, certificate, _, _) => certificate is not null && certificate.GetCertHashString() == clientCertificate.GetCertHashString(),
        });

        var admitted = new TlsClientOptions { ServerCertificateValidation = TrustTestRoot, ClientCertificates = [clientCertificate] };
        await using (Connection connection = await ParleyClient.OpenConnectionAsync(Client(server, pool, admitted)).Within())
        {
            connection.Send("hello"u8);
            await using IAsyncEnumerator<ReadOnlySequence<byte>> messages = connection.ReadMessagesAsync().GetAsyncEnumerator();
            Assert.True(await messages.MoveNextAsync().AsTask().Within());
        }

        // Without a certificate the server ends the handshake; with TLS 1.3 the client may only learn it on its first read.
        var refused = new TlsClientOptions { ServerCertificateValidation = TrustTestRoot };
        try
        {
            await using Connection connection = await ParleyClient.OpenConnectionAsync(Client(server, pool, refused)).Within();
            connection.Send("hello"u8);
            int received = 0;
            await foreach (ReadOnlySequence<byte> _ in connection.ReadMessagesAsync().WithCancellation(default))
            {
                received++;
            }

            Assert.Equal(0, received);
        }
        catch (AuthenticationException)
        {
            // Refused during the handshake: also right.
        }
    }

    [Theory]
    [InlineData(false)] // connects and says nothing
    [InlineData(true)]  // sends garbage instead of a ClientHello
    public async Task A_peer_that_does_not_complete_a_handshake_is_closed_within_the_timeout_and_others_are_unaffected(bool garbage)
    {
        var pool = new BufferPool();
        var logs = new CapturingLoggerFactory();
        ParleyServerOptions options = TestSupport.ServerOptions(pool);
        options.LoggerFactory = logs;
        options.Tls = new TlsServerOptions { Certificate = ServerCertificate(), HandshakeTimeout = TimeSpan.FromMilliseconds(500) };
        await using var server = new ParleyServer(options);
        server.MessageReceived += (c, m) => c.Send(m);
        server.Start();

        using Socket bad = await TestSupport.ConnectRawAsync(server);
        if (garbage)
        {
            await bad.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
        }

        await using (Connection good = await ParleyClient.OpenConnectionAsync(Client(server, pool, new TlsClientOptions { ServerCertificateValidation = TrustTestRoot })).Within())
        {
            good.Send("still served"u8);
            await using IAsyncEnumerator<ReadOnlySequence<byte>> messages = good.ReadMessagesAsync().GetAsyncEnumerator();
            Assert.True(await messages.MoveNextAsync().AsTask().Within());
        }

        byte[] buffer = new byte[1024];
        int read;
        do
        {
            try
            {
                read = await bad.ReceiveAsync(buffer).Within();
            }
            catch (SocketException)
            {
                read = 0; // reset: closed too
            }
        }
        while (read > 0); // an alert may come first, then the close

        await TestSupport.Until(() => logs.Contains(206, "TLS handshake"), "the failed handshake is logged");
    }

    [Fact]
    public async Task The_certificate_selector_answers_each_host_name_the_client_asks_for()
    {
        var pool = new BufferPool();
        X509Certificate2 alpha = ServerCertificate("alpha.test");
        X509Certificate2 beta = ServerCertificate("beta.test");
        var asked = new List<string?>();
        await using ParleyServer server = StartServer(pool, new TlsServerOptions
        {
            CertificateSelector = host =>
            {
                lock (asked)
                {
                    asked.Add(host);
                }

                return host == "beta.test" ? beta : alpha;
            },
        });

        foreach ((string host, X509Certificate2 expected) in new[] { ("alpha.test", alpha), ("beta.test", beta) })
        {
            string? seen = null;
            var tls = new TlsClientOptions
            {
                TargetHost = host,
                ServerCertificateValidation = (sender, certificate, chain, errors) =>
                {
                    seen = certificate?.GetCertHashString();
                    return TrustTestRoot(sender, certificate, chain, errors);
                },
            };
            ParleyClientOptions options = TestSupport.ClientOptions(server, pool);
            options.Tls = tls;
            await using Connection connection = await ParleyClient.OpenConnectionAsync(options).Within();
            Assert.Equal(expected.GetCertHashString(), seen);
        }

        Assert.Contains("alpha.test", asked);
        Assert.Contains("beta.test", asked);
    }

    [Fact]
    public void A_certificate_loads_from_PEM_with_its_key_in_the_same_or_a_separate_file_and_from_PFX()
    {
        X509Certificate2 original = ServerCertificate();
        string directory = Path.Combine(Path.GetTempPath(), "parley-tls-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            string certPem = original.ExportCertificatePem();
            string keyPem = original.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem();
            File.WriteAllText(Path.Combine(directory, "both.pem"), certPem + "\n" + keyPem);
            File.WriteAllText(Path.Combine(directory, "cert.pem"), certPem);
            File.WriteAllText(Path.Combine(directory, "key.pem"), keyPem);
            File.WriteAllBytes(Path.Combine(directory, "cert.pfx"), original.Export(X509ContentType.Pkcs12, "secret"));

            foreach (X509Certificate2 loaded in new[]
            {
                TlsServerOptions.LoadCertificate(Path.Combine(directory, "both.pem")),
                TlsServerOptions.LoadCertificate(Path.Combine(directory, "cert.pem"), keyPath: Path.Combine(directory, "key.pem")),
                TlsServerOptions.LoadCertificate(Path.Combine(directory, "cert.pfx"), password: "secret"),
            })
            {
                Assert.Equal(original.GetCertHashString(), loaded.GetCertHashString());
                Assert.True(loaded.HasPrivateKey);
            }

            Assert.ThrowsAny<CryptographicException>(() => TlsServerOptions.LoadCertificate(Path.Combine(directory, "cert.pfx"), password: "wrong"));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Handshakes_beyond_the_concurrency_limit_wait_for_a_slot()
    {
        var pool = new BufferPool();
        await using ParleyServer server = StartServer(pool, new TlsServerOptions { Certificate = ServerCertificate(), MaxConcurrentHandshakes = 1, HandshakeTimeout = TimeSpan.FromSeconds(30) });
        Socket stalled = await TestSupport.ConnectRawAsync(server);
        await stalled.SendAsync(new byte[] { 0x16 }); // starts a handshake record, takes the only slot, never finishes
        await TestSupport.Until(() => server.HandshakesInProgress == 1, "the stalled handshake holds the slot");

        Task<Connection> waiting = ParleyClient.OpenConnectionAsync(Client(server, pool, new TlsClientOptions { ServerCertificateValidation = TrustTestRoot }));
        Assert.NotSame(waiting, await Task.WhenAny(waiting, Task.Delay(500))); // blocked behind the stalled one

        stalled.Dispose(); // its handshake fails at once, freeing the slot
        await using Connection connection = await waiting.Within();
        Assert.Equal(ConnectionState.Open, connection.State);
    }

    [Fact]
    public async Task Connections_that_never_start_TLS_hold_no_handshake_slot()
    {
        var pool = new BufferPool();
        await using ParleyServer server = StartServer(pool, new TlsServerOptions { Certificate = ServerCertificate(), MaxConcurrentHandshakes = 2, HandshakeTimeout = TimeSpan.FromMinutes(10) });
        var silent = new List<Socket>();
        for (int i = 0; i < 6; i++)
        {
            silent.Add(await TestSupport.ConnectRawAsync(server));
        }

        // Before: the first two held both slots for the whole (ten-minute) timeout.
        await using Connection connection = await ParleyClient.OpenConnectionAsync(Client(server, pool, new TlsClientOptions { ServerCertificateValidation = TrustTestRoot })).Within();
        Assert.Equal(ConnectionState.Open, connection.State);
        await TestSupport.Until(() => server.HandshakesInProgress == 0, "no handshake left holding a slot");
        silent.ForEach(s => s.Dispose());
    }

    [Fact]
    public async Task One_address_gets_a_share_of_the_handshake_slots_and_another_address_still_gets_in()
    {
        var pool = new BufferPool();
        await using ParleyServer server = StartServer(pool, new TlsServerOptions
        {
            Certificate = ServerCertificate(),
            MaxConcurrentHandshakes = 4,
            MaxHandshakesPerAddress = 2,
            HandshakeTimeout = TimeSpan.FromMinutes(10),
        });

        // Four stalled handshakes from 127.0.0.1: two hold slots, two are closed at once.
        var stallers = new List<Socket>();
        for (int i = 0; i < 4; i++)
        {
            Socket staller = await TestSupport.ConnectRawAsync(server);
            await staller.SendAsync(new byte[] { 0x16 });
            stallers.Add(staller);
        }

        await TestSupport.Until(() => server.HandshakesInProgress == 2, "two stalled handshakes hold slots");
        await TestSupport.Until(() => stallers.Count(s => s.Poll(0, SelectMode.SelectRead)) == 2, "two stallers closed");

        // An honest client from another address (127.0.0.2) completes its handshake.
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
        await socket.ConnectAsync(server.LocalEndPoint).Within();
        await using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false), false, TrustTestRoot);
        await ssl.AuthenticateAsClientAsync("localhost").Within();
        Assert.True(ssl.IsAuthenticated);
        stallers.ForEach(s => s.Dispose());
    }
}
