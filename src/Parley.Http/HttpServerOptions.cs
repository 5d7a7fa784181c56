using Microsoft.Extensions.Logging;

namespace Parley.Http;

/// <summary>
/// Settings of an <see cref="HttpServer"/>: where it listens, what it serves, and its limits.
/// Read when the server starts; changing them afterwards has no effect.
/// </summary>
public sealed class HttpServerOptions
{
    private readonly List<ConnectionListener> _listeners = [];
    private readonly List<(string Prefix, HttpHandler Handler)> _routes = [];

    /// <summary>Accepts connections from <paramref name="listener"/> as well (any transport:
    /// TCP, a Unix socket, TLS-wrapped, shared memory, in-process). The server starts and
    /// disposes it.</summary>
    public HttpServerOptions Listen(ConnectionListener listener)
    {
        ArgumentNullException.ThrowIfNull(listener);
        _listeners.Add(listener);
        return this;
    }

    /// <summary>
    /// Sends requests whose decoded path is <paramref name="pathPrefix"/> or below it (at a
    /// <c>/</c> boundary) to <paramref name="handler"/>. The longest matching prefix is asked
    /// first; a handler that declines (returns false) passes the request to the next shorter
    /// match, and then to <see cref="Fallback"/>.
    /// </summary>
    public HttpServerOptions Map(string pathPrefix, HttpHandler handler)
    {
        ArgumentException.ThrowIfNullOrEmpty(pathPrefix);
        ArgumentNullException.ThrowIfNull(handler);
        if (pathPrefix[0] != '/')
        {
            throw new ArgumentException("A path prefix starts with '/'.", nameof(pathPrefix));
        }

        _routes.Add((pathPrefix.Length > 1 ? pathPrefix.TrimEnd('/') : pathPrefix, handler));
        return this;
    }

    /// <summary>Asked when no mapped handler took the request (a <see cref="StaticFileHandler"/>,
    /// typically); without one, such requests get 404.</summary>
    public HttpHandler? Fallback { get; set; }

    /// <summary>Most connections open at once; one more is closed as soon as it is accepted.
    /// Default 16 384: room for the 10 000 idle keep-alive connections a static server is
    /// expected to hold, bounded so a flood runs out of this, not of file descriptors.</summary>
    public int MaxConnections { get; set; } = 16_384;

    /// <summary>Most connections from one IP address at once (0, the default: no limit of its own
    /// beyond <see cref="MaxConnections"/>). Past it a new connection from that address is closed
    /// at once, so one address cannot take every slot.</summary>
    public int MaxConnectionsPerAddress { get; set; }

    /// <summary>Longest request line; past it, 414. Default 8 KiB (nginx, Kestrel).</summary>
    public int MaxRequestLineLength { get; set; } = HttpRequestParser.DefaultMaxRequestLineLength;

    /// <summary>Longest request head; past it, 431. Default 32 KiB.</summary>
    public int MaxHeadSize { get; set; } = HttpRequestParser.DefaultMaxHeadSize;

    /// <summary>Most header fields in a request; past it, 431. Default 100.</summary>
    public int MaxHeaderCount { get; set; } = HttpRequestParser.DefaultMaxHeaderCount;

    /// <summary>Largest request body; a larger declared length or chunked body gets 413 and
    /// the connection closes. The body of a request this server does not take is read and
    /// dropped. Default 1 MiB (nginx's <c>client_max_body_size</c>).</summary>
    public long MaxRequestBodySize { get; set; } = 1024 * 1024;

    /// <summary>Time from a request's first byte to its complete head (and between the pieces
    /// of its body); past it, 408 and the connection closes — the slowloris defence.
    /// Default 20 s.</summary>
    public TimeSpan RequestHeadTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>How long a connection may wait idle between requests before it is closed
    /// (quietly, as nginx does). Default 75 s (nginx's <c>keepalive_timeout</c>).</summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(75);

    /// <summary>How long a response may wait for a peer that does not read it; past it the
    /// connection is aborted. Default 60 s (nginx's <c>send_timeout</c>).</summary>
    public TimeSpan SendTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>After an error response that closes the connection, how long the server keeps
    /// reading (and dropping) what the peer still sends, so the peer reads the response before
    /// the close (a close with unread bytes is a reset that can destroy it). Default 2 s.</summary>
    public TimeSpan LingerTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Responses to pipelined requests are gathered and sent together up to this many
    /// bytes, then sent before the next request is read. Default 64 KiB.</summary>
    public int ResponseBufferSize { get; set; } = 64 * 1024;

    /// <summary>Sends <c>Server: Parley</c> with every response. Default true.</summary>
    public bool ServerHeader { get; set; } = true;

    /// <summary>Called once per response with its request line, status and body length, when
    /// set (an access log); null — the default — costs nothing. Called on the connection's
    /// thread: keep it quick and thread-safe.</summary>
    public Action<HttpAccessLogEntry>? AccessLog { get; set; }

    /// <summary>The clock for timeouts and the <c>Date</c> header. Default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Where the server logs; null logs nothing.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    internal IReadOnlyList<ConnectionListener> Listeners => _listeners;

    internal IReadOnlyList<(string Prefix, HttpHandler Handler)> Routes => _routes;

    internal void Validate()
    {
        if (_listeners.Count == 0)
        {
            throw new InvalidOperationException("An HTTP server needs at least one listener (Listen).");
        }

        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxConnections);
        ArgumentOutOfRangeException.ThrowIfNegative(MaxRequestBodySize);
        ArgumentOutOfRangeException.ThrowIfLessThan(ResponseBufferSize, 4096);
        Positive(RequestHeadTimeout, nameof(RequestHeadTimeout));
        Positive(KeepAliveTimeout, nameof(KeepAliveTimeout));
        Positive(SendTimeout, nameof(SendTimeout));
        Positive(LingerTimeout, nameof(LingerTimeout));
        ArgumentNullException.ThrowIfNull(TimeProvider);
        _ = new HttpRequestParser(MaxRequestLineLength, MaxHeadSize, MaxHeaderCount); // validates the three
    }

    private static void Positive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(name, value, "A timeout is positive.");
        }
    }
}

/// <summary>One response, for an access log.</summary>
/// <param name="RemoteEndPoint">The peer, when the transport knows it.</param>
/// <param name="Method">The request's method token.</param>
/// <param name="Target">The request target as sent.</param>
/// <param name="Version">The request's version.</param>
/// <param name="Status">The response's status.</param>
/// <param name="BodyLength">The body's length in bytes (0 for HEAD and 304).</param>
public readonly record struct HttpAccessLogEntry(System.Net.EndPoint? RemoteEndPoint, string Method, string Target, HttpProtocolVersion Version, int Status, long BodyLength);
