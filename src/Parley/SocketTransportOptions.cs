namespace Parley;

/// <summary>
/// Socket settings of a <see cref="SocketConnectionListener"/> or <see cref="SocketConnectionDialer"/>.
/// The TCP ones are ignored on Unix-domain sockets.
/// </summary>
/// <remarks>A server or client built from an endpoint alone takes these from its
/// <see cref="ConnectionOptions"/> (<see cref="ConnectionOptions.NoDelay"/>,
/// <see cref="ConnectionOptions.TcpKeepAlive"/>…) and <see cref="ParleyServerOptions"/>.</remarks>
public sealed class SocketTransportOptions
{
    /// <summary>Disable Nagle's algorithm. Default <see langword="true"/>: Parley merges queued
    /// frames into one write itself, so Nagle would only add latency.</summary>
    public bool NoDelay { get; set; } = true;

    /// <summary>Enable the operating system's TCP keep-alive probes. Default off: application
    /// keep-alives detect a dead peer faster and through proxies.</summary>
    public bool TcpKeepAlive { get; set; }

    /// <summary>Idle time before the first TCP keep-alive probe. Default 30 s.</summary>
    public TimeSpan TcpKeepAliveTime { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Time between TCP keep-alive probes. Default 5 s.</summary>
    public TimeSpan TcpKeepAliveInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Unanswered probes before the OS drops the connection. Default 3.</summary>
    public int TcpKeepAliveRetryCount { get; set; } = 3;

    /// <summary>Pending connections the kernel queues before they are accepted (listeners only).
    /// Default 512, enough for a paced ramp-up of thousands of clients.</summary>
    public int ListenBacklog { get; set; } = 512;

    /// <summary>
    /// Let several listeners (processes) bind the same TCP port, the kernel spreading new
    /// connections among them (SO_REUSEPORT). Default <see langword="false"/>: binding a port in
    /// use fails with "address already in use". Listeners only.
    /// </summary>
    public bool SharePort { get; set; }

    /// <summary>Checks every value; throws <see cref="ArgumentOutOfRangeException"/> for one out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(TcpKeepAliveTime, TimeSpan.Zero, nameof(TcpKeepAliveTime));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(TcpKeepAliveInterval, TimeSpan.Zero, nameof(TcpKeepAliveInterval));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(TcpKeepAliveRetryCount, nameof(TcpKeepAliveRetryCount));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ListenBacklog, nameof(ListenBacklog));
    }

    internal static SocketTransportOptions From(ConnectionOptions options, int listenBacklog = 512, bool sharePort = false) => new()
    {
        NoDelay = options.NoDelay,
        TcpKeepAlive = options.TcpKeepAlive,
        TcpKeepAliveTime = options.TcpKeepAliveTime,
        TcpKeepAliveInterval = options.TcpKeepAliveInterval,
        TcpKeepAliveRetryCount = options.TcpKeepAliveRetryCount,
        ListenBacklog = listenBacklog,
        SharePort = sharePort,
    };
}
