using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace Parley.Contract.Tests;

/// <summary>The transport seam at its edges, from a cold review of its first version: socket
/// files that are not ours, TLS set-up failures, errors through the TLS decorator, listeners
/// that fail to start, reads after an abort, refusals outliving a stop.</summary>
public sealed class TransportEdgeTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static string NewPath() => Path.Combine(Path.GetTempPath(), $"parley-review-{Guid.NewGuid():N}.sock");

    // F1: Linux answers connect() on a path that is not a socket with ECONNREFUSED, exactly as
    // for a stale socket, so RemoveStaleSocketFile deletes any regular file at the path.
    [Fact]
    public void Starting_a_Unix_listener_on_a_path_that_holds_a_regular_file_leaves_the_file_alone()
    {
        string path = NewPath();
        File.WriteAllText(path, "precious data");
        try
        {
            using var listener = new SocketConnectionListener(new UnixDomainSocketEndPoint(path));
            Assert.ThrowsAny<SocketException>(listener.Start);
            Assert.Equal("precious data", File.ReadAllText(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    // F2: the stale-file probe is a blocking Connect; when a live server's backlog is full
    // (busy, stalled, SIGSTOPped) it blocks in the kernel until a slot frees: Start hangs.
    [Fact]
    public async Task Starting_a_Unix_listener_beside_a_live_server_with_a_full_backlog_fails_instead_of_hanging()
    {
        string path = NewPath();
        var endPoint = new UnixDomainSocketEndPoint(path);
        var live = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        var fillers = new List<Socket>();
        try
        {
            live.Bind(endPoint);
            live.Listen(1);
            for (int i = 0; i < 64; i++)
            {
                var filler = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) { Blocking = false };
                fillers.Add(filler);
                try
                {
                    filler.Connect(endPoint);
                }
                catch (SocketException)
                {
                    break; // EAGAIN: the backlog is full
                }
            }

            using var listener = new SocketConnectionListener(endPoint);
            Task start = Task.Run(listener.Start);
            Exception? error = await Record.ExceptionAsync(() => start.WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.IsNotType<TimeoutException>(error);
            Assert.IsType<SocketException>(error);
        }
        finally
        {
            live.Dispose(); // wakes the blocked probe, if any
            foreach (Socket filler in fillers)
            {
                filler.Dispose();
            }

            File.Delete(path);
        }
    }

    // F3a: Validate checks "TLS needs a host" only for an explicit Dialer; the default dialer made
    // from a UnixDomainSocketEndPoint RemoteEndPoint has no Host either.
    [Fact]
    public void TLS_to_a_Unix_socket_RemoteEndPoint_without_a_target_host_is_refused_by_Validate()
    {
        var options = new ParleyClientOptions { RemoteEndPoint = new UnixDomainSocketEndPoint(NewPath()), Tls = new TlsClientOptions() };
        ArgumentException error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains("TargetHost", error.Message, StringComparison.Ordinal);
    }

    // F3b: ...so the client connects, then AuthenticateAsClientAsync throws ArgumentNullException
    // before its try block, and the connected transport is never disposed.
    [Fact]
    public async Task A_client_whose_TLS_setup_fails_after_connecting_closes_the_socket_it_opened()
    {
        string path = NewPath();
        var endPoint = new UnixDomainSocketEndPoint(path);
        using var server = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        server.Bind(endPoint);
        server.Listen();
        try
        {
            var options = new ParleyClientOptions { Dialer = null, RemoteEndPoint = endPoint, Tls = new TlsClientOptions() };
            Exception? failure = await Record.ExceptionAsync(() => ParleyClient.OpenConnectionAsync(options).WaitAsync(Timeout));
            Assert.NotNull(failure);
            if (!server.Poll(0, SelectMode.SelectRead))
            {
                return; // refused before connecting (Validate): nothing to leak
            }

            using Socket accepted = await server.AcceptAsync().WaitAsync(Timeout);
            using var eof = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            Exception? read = await Record.ExceptionAsync(async () => Assert.Equal(0, await accepted.ReceiveAsync(new byte[16], SocketFlags.None, eof.Token)));
            Assert.Null(read); // an OperationCanceledException here means the client's socket leaked open
        }
        finally
        {
            File.Delete(path);
        }
    }

    // F4: the contract maps InvalidDataException to ProtocolError, but SslStream wraps any
    // non-IOException from its inner stream in an IOException: over TLS it becomes TransportError.
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_transport_protocol_violation_closes_with_ProtocolError_with_or_without_TLS(bool tls)
    {
        using var certificate = TestCertificate.Create("faulty.test");
        var memory = new InMemoryConnectionListener($"faulty-{tls}");
        var faulty = new FaultyListener(memory);
        var closed = new TaskCompletionSource<CloseReason>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new ParleyServer(new ParleyServerOptions().Listen(faulty, tls ? new TlsServerOptions { Certificate = certificate } : null));
        server.Disconnected += connection => closed.TrySetResult(connection.CloseReason);
        var connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Connected += _ => connected.TrySetResult();
        server.Start();

        var options = new ParleyClientOptions
        {
            Dialer = memory.CreateDialer(),
            Tls = tls ? new TlsClientOptions { TargetHost = "faulty.test", ServerCertificateValidation = TestCertificate.Trust(certificate) } : null,
        };
        await using Connection client = await ParleyClient.OpenConnectionAsync(options).WaitAsync(Timeout);
        FaultyTransport serverEnd = await faulty.Accepted.Task.WaitAsync(Timeout);
        await connected.Task.WaitAsync(Timeout); // the handshake is over: only data reads fail from here
        serverEnd.FailReceives = true;
        await client.SendAsync(Encoding.UTF8.GetBytes("trigger")).AsTask().WaitAsync(Timeout);
        Assert.Equal(CloseReason.ProtocolError, await closed.Task.WaitAsync(Timeout));
    }

    // F5 (control, expected to pass): a TLS peer's TCP reset still maps to ConnectionReset.
    [Fact]
    public async Task A_TLS_peer_that_resets_closes_with_ConnectionReset()
    {
        using var certificate = TestCertificate.Create("reset.test");
        var closed = new TaskCompletionSource<CloseReason>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new ParleyServer(new ParleyServerOptions().Listen(
            new SocketConnectionListener(new IPEndPoint(IPAddress.Loopback, 0)), new TlsServerOptions { Certificate = certificate }));
        server.Disconnected += connection => closed.TrySetResult(connection.CloseReason);
        var connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Connected += _ => connected.TrySetResult();
        server.Start();

        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.LocalEndPoint).WaitAsync(Timeout);
        var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false));
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "reset.test",
            RemoteCertificateValidationCallback = TestCertificate.Trust(certificate),
        }).WaitAsync(Timeout);
        await connected.Task.WaitAsync(Timeout);
        socket.LingerState = new LingerOption(true, 0);
        socket.Close(); // RST
        Assert.Equal(CloseReason.ConnectionReset, await closed.Task.WaitAsync(Timeout));
        await ssl.DisposeAsync();
    }

    // F6: "the server starts each listener, owns it from then on, and disposes it when it stops":
    // after a failed Start the failing listener and the ones never reached are never disposed.
    [Fact]
    public async Task A_server_whose_start_failed_disposes_every_listener_it_was_given()
    {
        var failing = new TrackingListener(failStart: true);
        var later = new TrackingListener(failStart: false);
        var server = new ParleyServer(new ParleyServerOptions().Listen(new InMemoryConnectionListener("first")).Listen(failing).Listen(later));
        Assert.Throws<SocketException>(server.Start);
        await server.DisposeAsync().AsTask().WaitAsync(Timeout);
        Assert.True(failing.Disposed, "the listener whose Start threw is disposed");
        Assert.True(later.Disposed, "a listener never started is disposed");
    }

    // F7: InMemoryTransport.Dispose only cancels the one pending read (CancelPendingRead) and never
    // completes its reader: a second receive after Dispose waits forever on a silent peer.
    [Fact]
    public async Task Every_receive_on_a_disposed_in_memory_transport_fails_promptly()
    {
        (InMemoryTransport local, InMemoryTransport peer) = InMemoryTransport.CreatePair();
        using (peer)
        {
            local.Dispose();
            await Assert.ThrowsAnyAsync<Exception>(() => local.ReceiveAsync(new byte[1]).AsTask().WaitAsync(Timeout));
            Exception? second = await Record.ExceptionAsync(() => local.ReceiveAsync(new byte[1]).AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
            Assert.IsNotType<TimeoutException>(second);
            Assert.NotNull(second);
        }
    }

    [Fact]
    public void Starting_a_Unix_listener_on_a_symlink_to_a_stale_socket_leaves_the_link_alone()
    {
        string target = NewPath();
        string link = NewPath();
        string elsewhere = NewPath();
        using (var dead = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            dead.Bind(new UnixDomainSocketEndPoint(elsewhere));
            dead.Listen();
            File.Move(elsewhere, target); // a stale socket file, as a killed process leaves
        }

        File.CreateSymbolicLink(link, target);
        try
        {
            using var listener = new SocketConnectionListener(new UnixDomainSocketEndPoint(link));
            Assert.ThrowsAny<SocketException>(listener.Start);
            Assert.NotNull(new FileInfo(link).LinkTarget);
        }
        finally
        {
            File.Delete(link);
            File.Delete(target);
        }
    }

    [Fact]
    public async Task Stopping_the_server_closes_refused_connections_still_saying_goodbye()
    {
        var listener = new PipeListener("goodbye");
        var server = new ParleyServer(new ParleyServerOptions
        {
            MaxConnections = 1,
            RefusalMessage = _ => Encoding.UTF8.GetBytes("full"),
            TimeProvider = new FrozenTime(), // the goodbye's own deadline never comes
        }.Listen(listener));
        server.Start();
        await using Connection first = await ParleyClient.OpenConnectionAsync(new ParleyClientOptions { Dialer = listener.Dialer() }).WaitAsync(Timeout);
        while (server.ConnectionCount == 0)
        {
            await Task.Delay(10).WaitAsync(Timeout);
        }

        // A refused peer that reads the refusal and never closes its side.
        var refused = (Transport)await listener.Dialer().ConnectAsync().AsTask().WaitAsync(Timeout);
        byte[] buffer = new byte[64];
        Assert.True(await refused.ReceiveAsync(buffer).AsTask().WaitAsync(Timeout) > 0);
        Assert.Equal(0, await refused.ReceiveAsync(buffer).AsTask().WaitAsync(Timeout)); // the server's FIN after the message

        // The server now waits for the peer's FIN; stopping must not leave that connection open.
        await server.StopAsync().WaitAsync(Timeout);
        Assert.True(listener.ServerEnds.Last().IsDisposed, "the refused connection is closed by StopAsync");
        refused.Dispose();
    }

    /// <summary>A clock whose timers never fire.</summary>
    private sealed class FrozenTime : TimeProvider
    {
        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => new NeverTimer();

        private sealed class NeverTimer : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period) => true;

            public void Dispose()
            {
            }

            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }

    private sealed class TrackingListener(bool failStart) : ConnectionListener
    {
        public bool Disposed { get; private set; }

        public override string Address => "tracking";

        public override void Start()
        {
            if (failStart)
            {
                throw new SocketException((int)SocketError.AddressAlreadyInUse);
            }
        }

        public override ValueTask<Transport> AcceptAsync(CancellationToken cancellationToken = default) =>
            ValueTask.FromException<Transport>(new ObjectDisposedException("tracking"));

        public override void Dispose() => Disposed = true;
    }

    private sealed class FaultyListener(ConnectionListener inner) : ConnectionListener
    {
        public TaskCompletionSource<FaultyTransport> Accepted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override string Address => inner.Address;

        public override void Start() => inner.Start();

        public override async ValueTask<Transport> AcceptAsync(CancellationToken cancellationToken = default)
        {
            var transport = new FaultyTransport(await inner.AcceptAsync(cancellationToken));
            Accepted.TrySetResult(transport);
            return transport;
        }

        public override void Dispose() => inner.Dispose();
    }

    /// <summary>Breaks the transport's own protocol (as a corrupt shared-memory ring does) once told to.</summary>
    private sealed class FaultyTransport(Transport inner) : Transport
    {
        public volatile bool FailReceives;

        public override EndPoint? LocalEndPoint => inner.LocalEndPoint;

        public override EndPoint? RemoteEndPoint => inner.RemoteEndPoint;

        public override async ValueTask<int> ReceiveAsync(Memory<byte> buffer)
        {
            int received = await inner.ReceiveAsync(buffer);
            return FailReceives ? throw new InvalidDataException("corrupt ring") : received;
        }

        public override ValueTask<int> SendAsync(ReadOnlyMemory<byte> buffer) => inner.SendAsync(buffer);

        public override ValueTask ShutdownSendAsync() => inner.ShutdownSendAsync();

        public override void Dispose() => inner.Dispose();
    }
}
