using System.Net;
using System.Net.Sockets;
using Parley.Internal;

namespace Parley;

/// <summary>
/// Connects stream sockets: TCP to an <see cref="IPEndPoint"/> or <see cref="DnsEndPoint"/>,
/// or a Unix-domain socket to a <see cref="UnixDomainSocketEndPoint"/>. A client with only a
/// <see cref="ParleyClientOptions.RemoteEndPoint"/> uses one of these.
/// </summary>
public sealed class SocketConnectionDialer : ConnectionDialer
{
    private readonly EndPoint _remote;
    private readonly IPEndPoint? _local;
    private readonly SocketTransportOptions _options;

    /// <summary>Creates a dialer.</summary>
    /// <param name="remote">The server.</param>
    /// <param name="local">The local TCP address to connect from, or null for the system's choice.</param>
    /// <param name="options">Socket settings; defaults when null.</param>
    public SocketConnectionDialer(EndPoint remote, IPEndPoint? local = null, SocketTransportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(remote);
        if (remote is not (IPEndPoint or DnsEndPoint or UnixDomainSocketEndPoint))
        {
            throw new ArgumentException("A socket dialer connects to an IPEndPoint, a DnsEndPoint or a UnixDomainSocketEndPoint.", nameof(remote));
        }

        _remote = remote;
        _local = local;
        _options = options ?? new SocketTransportOptions();
        _options.Validate();
    }

    /// <inheritdoc />
    public override string Address => Describe(_remote);

    /// <summary>The host of a <see cref="DnsEndPoint"/>, or the IP address as text; null for a Unix-domain socket.</summary>
    public override string? Host => _remote switch
    {
        DnsEndPoint dns => dns.Host,
        IPEndPoint ip => ip.Address.ToString(),
        _ => null,
    };

    /// <inheritdoc />
    public override async ValueTask<Transport> ConnectAsync(CancellationToken cancellationToken = default)
    {
#pragma warning disable CA2000 // The socket goes to the transport on success and is disposed below otherwise.
        Socket socket = _remote switch
        {
            UnixDomainSocketEndPoint => new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified),
            DnsEndPoint => new Socket(SocketType.Stream, ProtocolType.Tcp),
            _ => new Socket(_remote.AddressFamily, SocketType.Stream, ProtocolType.Tcp),
        };
#pragma warning restore CA2000
        try
        {
            if (_local is { } local)
            {
                socket.Bind(local);
            }

            await socket.ConnectAsync(_remote, cancellationToken).ConfigureAwait(false);
            return new SocketTransport(socket, _options);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    internal static string Describe(EndPoint endPoint) => endPoint switch
    {
        UnixDomainSocketEndPoint unix => $"unix:{unix}",
        _ => endPoint.ToString() ?? "?",
    };
}
