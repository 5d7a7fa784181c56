using System.Net;
using System.Net.Sockets;
using Parley.Internal;

namespace Parley;

/// <summary>
/// Accepts stream-socket connections: TCP on an <see cref="IPEndPoint"/>, or a Unix-domain
/// socket on a <see cref="UnixDomainSocketEndPoint"/> (a path). Give it to
/// <see cref="ParleyServerOptions.Listen"/>; a server with no listeners makes one for
/// <see cref="ParleyServerOptions.EndPoint"/>.
/// </summary>
/// <remarks>
/// A Unix-domain socket's file is created by <see cref="Start"/> with the process's umask and
/// removed by <see cref="Dispose"/>. A socket file left by a process that was killed is
/// replaced; one a live server still accepts on is not, nor is anything that is not a socket
/// (a regular file, a directory, a symlink): <see cref="Start"/> then fails with "address
/// already in use", as for TCP. Two servers starting on one path at the same instant are not
/// arbitrated (the check and the bind are two steps); run one per path.
/// </remarks>
public sealed class SocketConnectionListener : ConnectionListener
{
    private readonly EndPoint _endPoint;
    private readonly SocketTransportOptions _options;
    private Socket? _socket;
    private int _disposed;

    /// <summary>Creates a listener; nothing is bound until <see cref="Start"/>.</summary>
    /// <param name="endPoint">An <see cref="IPEndPoint"/> (port 0 picks a free port;
    /// <see cref="IPAddress.IPv6Any"/> accepts IPv4 too) or a <see cref="UnixDomainSocketEndPoint"/>.</param>
    /// <param name="options">Socket settings; defaults when null.</param>
    public SocketConnectionListener(EndPoint endPoint, SocketTransportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        if (endPoint is not (IPEndPoint or UnixDomainSocketEndPoint))
        {
            throw new ArgumentException("A socket listener binds an IPEndPoint or a UnixDomainSocketEndPoint.", nameof(endPoint));
        }

        _endPoint = endPoint;
        _options = options ?? new SocketTransportOptions();
        _options.Validate();
    }

    /// <inheritdoc />
    public override string Address => SocketConnectionDialer.Describe(LocalEndPoint ?? _endPoint);

    /// <summary>The bound address once started (with the real port when port 0 was asked for);
    /// before that, the address asked for (not null, unlike the base class's default).</summary>
    public override EndPoint? LocalEndPoint => _socket?.LocalEndPoint ?? _endPoint;

    /// <inheritdoc />
    public override void Start()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (_socket is not null)
        {
            throw new InvalidOperationException("The listener is started already.");
        }

        Socket socket = _endPoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(_endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (_endPoint is UnixDomainSocketEndPoint unix)
            {
                RemoveStaleSocketFile(unix);
            }
            else
            {
                if (_endPoint.AddressFamily == AddressFamily.InterNetworkV6 && ((IPEndPoint)_endPoint).Address.Equals(IPAddress.IPv6Any))
                {
                    socket.DualMode = true;
                }

                ListenerSockets.AllowRebind(socket, _options.SharePort);
            }

            socket.Bind(_endPoint);
            socket.Listen(_options.ListenBacklog);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        _socket = socket;
    }

    /// <inheritdoc />
    public override async ValueTask<Transport> AcceptAsync(CancellationToken cancellationToken = default)
    {
        Socket listener = _socket ?? throw new InvalidOperationException("The listener is not started.");
        while (true)
        {
            Socket socket = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                return new SocketTransport(socket, _options);
            }
            catch (SocketException)
            {
                // The peer left between accept and setup (setting an option on a reset socket
                // fails on some systems): that one connection is gone, the next is accepted at
                // once — a failure here must not pause the server's accept loop.
                socket.Dispose();
            }
        }
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _socket?.Dispose(); // for a Unix-domain socket, .NET also removes the file it bound
    }

    // A socket file survives a process that was killed. It is removed only when all of this
    // holds: it is a socket (never a regular file, a directory or a symlink — a mistyped path
    // must not cost data), and a non-blocking connect is refused, i.e. nobody accepts on it. A
    // live server — even one too busy to accept, whose full backlog makes the connect
    // "would block" — keeps it, and Bind then fails with "address in use", as for TCP. Abstract
    // names (leading NUL or '@') have no file.
    private static void RemoveStaleSocketFile(UnixDomainSocketEndPoint endPoint)
    {
        string path = endPoint.ToString();
        if (path.Length == 0 || path[0] is '\0' or '@' || !UnixFileType.IsSocket(path))
        {
            return;
        }

        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) { Blocking = false };
        try
        {
            probe.Connect(endPoint);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
        {
            File.Delete(path);
        }
        catch (SocketException)
        {
            // Would block (a live server with a full backlog), no permission, or anything else
            // we cannot judge: leave the file; Bind reports "address in use".
        }
    }
}
