using System.Net;

namespace Parley;

/// <summary>Settings of a <see cref="ParleyClient"/>: where it connects and how it reconnects.</summary>
public sealed class ParleyClientOptions : ConnectionOptions
{
    /// <summary>The server: an <see cref="IPEndPoint"/> or a <see cref="DnsEndPoint"/>. Required unless <see cref="Dialer"/> is set.</summary>
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
    /// Another transport to reach the server (Parley.Ipc's shared memory), used instead of TCP
    /// to <see cref="RemoteEndPoint"/>. Default null: TCP.
    /// </summary>
    public ConnectionDialer? Dialer { get; set; }

    /// <summary>TLS to the server; null (the default) for plain TCP.</summary>
    public TlsClientOptions? Tls { get; set; }

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        if (RemoteEndPoint is null && Dialer is null)
        {
            throw new ArgumentException("RemoteEndPoint (or a Dialer) is required.", nameof(RemoteEndPoint));
        }

        if (Dialer is not null && Tls is not null)
        {
            throw new ArgumentException("TLS runs over TCP only; it cannot be combined with a Dialer.", nameof(Tls));
        }

        RequirePositive(ConnectTimeout, nameof(ConnectTimeout));
        RequirePositive(ReconnectInitialDelay, nameof(ReconnectInitialDelay));
        RequirePositive(ReconnectMaxDelay, nameof(ReconnectMaxDelay));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ReconnectMaxAttempts, nameof(ReconnectMaxAttempts));
    }
}
