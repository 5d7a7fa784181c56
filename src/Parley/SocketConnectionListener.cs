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
/// removed by <see cref="Dispose"/>. A file left by a process that died is replaced; one that a
/// live server still accepts on is not ("address already in use"), as for TCP.
/// </remarks>
public sealed class SocketConnectionListener : ConnectionListener
{
    private readonly EndPoint _endPoint;
    private readonly SocketTransportOptions _options;
    private Socket? _socket;
    private string? _ownedPath;
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

    /// <summary>The bound address once started (with the real port when port 0 was asked for); before that, the one asked for.</summary>
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
            if (_endPoint is UnixDomainSocketEndPoint bound)
            {
                _ownedPath = bound.ToString();
            }

            socket.Listen(_options.ListenBacklog);
        }
        catch
        {
            socket.Dispose();
            DeleteOwnedFile();
            throw;
        }

        _socket = socket;
    }

    /// <inheritdoc />
    public override async ValueTask<Transport> AcceptAsync(CancellationToken cancellationToken = default)
    {
        Socket listener = _socket ?? throw new InvalidOperationException("The listener is not started.");
        Socket socket = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return new SocketTransport(socket, _options);
        }
        catch
        {
            // The peer left between accept and setup (setting an option on a reset socket fails).
            socket.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _socket?.Dispose();
        DeleteOwnedFile();
    }

    private void DeleteOwnedFile()
    {
        if (_ownedPath is { } path)
        {
            _ownedPath = null;
            try
            {
                File.Delete(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Left behind: the next Start finds nobody accepting on it and replaces it.
            }
        }
    }

    // A socket file survives a process that died. Connecting tells a stale one (refused) from
    // one a live server accepts on (left alone: Bind then fails with "address in use").
    private static void RemoveStaleSocketFile(UnixDomainSocketEndPoint endPoint)
    {
        string path = endPoint.ToString();
        if (!File.Exists(path) || (File.GetAttributes(path) & FileAttributes.Directory) != 0)
        {
            return;
        }

        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
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
            // Not a socket we can judge (permissions, not a socket): leave it; Bind reports it.
        }
    }
}
