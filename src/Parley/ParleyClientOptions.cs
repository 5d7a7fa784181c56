using System.Net;

namespace Parley;

/// <summary>Settings of a <see cref="ParleyClient"/>: where it connects and how it reconnects.</summary>
public sealed class ParleyClientOptions : ConnectionOptions
{
    /// <summary>The server: an <see cref="IPEndPoint"/> or a <see cref="DnsEndPoint"/> (TCP), or a
    /// <see cref="System.Net.Sockets.UnixDomainSocketEndPoint"/>. Required unless <see cref="Dialer"/> is set.</summary>
    public EndPoint? RemoteEndPoint { get; set; }

    /// <summary>The local address to connect from, or null for the system's choice. A load
    /// generator spreads thousands of clients over several 127.0.0.x addresses this way, each
    /// with its own range of ephemeral ports.</summary>
    public IPEndPoint? LocalEndPoint { get; set; }

    /// <summary>How long one connection attempt may take. Default 10 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Reconnect after the connection is lost (not after a local close). Default off.</summary>
    public bool AutoReconnect { get; set; }

    /// <summary>Wait before the first reconnect attempt; doubled after each failure. Default 500 ms.</summary>
    public TimeSpan ReconnectInitialDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Longest wait between reconnect attempts. Default 30 s.</summary>
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Attempts after one loss before the client gives up. Default 100 (about 45 min at the maximum delay).</summary>
    public int ReconnectMaxAttempts { get; set; } = 100;

    /// <summary>
    /// How to reach the server when not by TCP to <see cref="RemoteEndPoint"/>: a Unix-domain
    /// socket (<see cref="SocketConnectionDialer"/>), shared memory (Parley.Ipc), in process
    /// (<see cref="InMemoryConnectionListener.CreateDialer"/>) or your own
    /// <see cref="ConnectionDialer"/>. Default null: TCP to <see cref="RemoteEndPoint"/> from
    /// <see cref="LocalEndPoint"/>, with this object's socket settings.
    /// </summary>
    public ConnectionDialer? Dialer { get; set; }

    /// <summary>TLS to the server, over whatever transport connects (TCP or <see cref="Dialer"/>);
    /// null (the default) for none. Over a dialer without a host name (<see cref="ConnectionDialer.Host"/>)
    /// <see cref="TlsClientOptions.TargetHost"/> is required.</summary>
    public TlsClientOptions? Tls { get; set; }

    /// <summary>The dialer for the next connection attempt: <see cref="Dialer"/>, or a socket
    /// dialer made from <see cref="RemoteEndPoint"/> and the socket settings as they are now (so
    /// a reconnect follows a changed address, as it always did).</summary>
    internal ConnectionDialer EffectiveDialer => Dialer ?? new SocketConnectionDialer(RemoteEndPoint!, LocalEndPoint, SocketTransportOptions.From(this));

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        if (RemoteEndPoint is null && Dialer is null)
        {
            throw new ArgumentException("RemoteEndPoint (or a Dialer) is required.", nameof(RemoteEndPoint));
        }

        if (Dialer is null && RemoteEndPoint is not (IPEndPoint or DnsEndPoint or System.Net.Sockets.UnixDomainSocketEndPoint))
        {
            throw new ArgumentException("RemoteEndPoint must be an IPEndPoint, a DnsEndPoint or a UnixDomainSocketEndPoint (or set a Dialer).", nameof(RemoteEndPoint));
        }

        if (Tls is not null && Tls.TargetHost is null && EffectiveDialer is { Host: null } hostless)
        {
            throw new ArgumentException($"TLS over {hostless.Address} needs Tls.TargetHost: the name the server's certificate must carry.", nameof(Tls));
        }

        RequirePositive(ConnectTimeout, nameof(ConnectTimeout));
        RequirePositive(ReconnectInitialDelay, nameof(ReconnectInitialDelay));
        RequirePositive(ReconnectMaxDelay, nameof(ReconnectMaxDelay));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ReconnectMaxAttempts, nameof(ReconnectMaxAttempts));
    }
}
