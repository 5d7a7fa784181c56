using System.Net;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Parley.Http;
using Parley.WebSockets.Internal;

namespace Parley.WebSockets;

/// <summary>
/// WebSocket connections as a <see cref="ConnectionListener"/>: mount <see cref="Handler"/> on
/// an <see cref="HttpServer"/> (<c>options.Map("/ws", listener.Handler)</c>) and give the
/// listener to a <see cref="ParleyServer"/> (<c>Listen(listener)</c>) whose framer is
/// <see cref="WebSocketOptions.CreateFramer"/>. The handler checks each request to upgrade,
/// answers <c>101</c>, and queues the connection; the Parley server accepts it like any other
/// — its admission limits, send queues, slow-consumer policy, groups and liveness all apply.
/// </summary>
/// <remarks>
/// Refusals, each with a short plain-text reason: 405 for a method other than GET; 426 (with
/// <c>Upgrade: websocket</c> and <c>Sec-WebSocket-Version: 13</c>) for a request that does not
/// ask to upgrade to WebSocket version 13; 400 for a missing or malformed
/// <c>Sec-WebSocket-Key</c>, or a body; 403 for an <c>Origin</c> not allowed
/// (<see cref="WebSocketOptions.AllowedOrigins"/>); 503 when
/// <see cref="WebSocketOptions.MaxPendingConnections"/> upgraded connections already wait to be
/// accepted, or the listener is closed.
/// </remarks>
public sealed partial class WebSocketListener : ConnectionListener
{
    private readonly WebSocketOptions _options;
    private readonly Channel<Transport> _pending;
    private readonly ILogger _logger;
    private readonly byte[][] _subProtocols;
    private int _queued;
    private volatile bool _disposed;

    /// <summary>Creates a listener; <paramref name="path"/> is only its name in logs.</summary>
    public WebSocketListener(WebSocketOptions options, string path = "/ws", ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        Address = $"websocket:{path}";
        _pending = Channel.CreateUnbounded<Transport>(new UnboundedChannelOptions { SingleReader = true });
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<WebSocketListener>();
        _subProtocols = [.. options.SubProtocols.Select(Encoding.ASCII.GetBytes)];
        Handler = new UpgradeHandler(this);
    }

    /// <inheritdoc/>
    public override string Address { get; }

    /// <summary>The HTTP handler that upgrades requests; mount it at the WebSocket's path.</summary>
    public HttpHandler Handler { get; }

    /// <summary>Upgraded connections waiting to be accepted.</summary>
    public int PendingCount => Volatile.Read(ref _queued);

    /// <inheritdoc/>
    public override void Start()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
    }

    /// <inheritdoc/>
    public override async ValueTask<Transport> AcceptAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            Transport transport = await _pending.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            Interlocked.Decrement(ref _queued);
            return transport;
        }
        catch (ChannelClosedException)
        {
            throw new ObjectDisposedException(nameof(WebSocketListener));
        }
    }

    /// <inheritdoc/>
    public override void Dispose()
    {
        _disposed = true;
        _pending.Writer.TryComplete();
        while (_pending.Reader.TryRead(out Transport? waiting))
        {
            Interlocked.Decrement(ref _queued);
            waiting.Dispose();
        }
    }

    private bool TryEnqueue(Transport transport)
    {
        if (_disposed || !_pending.Writer.TryWrite(transport))
        {
            return false;
        }

        // A dispose that ran between the check and the write has drained already: undo.
        if (_disposed && _pending.Reader.TryRead(out Transport? late))
        {
            Interlocked.Decrement(ref _queued);
            late.Dispose();
        }

        return true;
    }

    private sealed class UpgradeHandler(WebSocketListener listener) : HttpHandler
    {
        public override ValueTask<bool> HandleAsync(HttpContext context) => listener.UpgradeAsync(context);
    }

    private async ValueTask<bool> UpgradeAsync(HttpContext context)
    {
        HttpRequestHead request = context.Request;
        if (!Check(context, out int status, out string? reason, out byte[]? subProtocol))
        {
            LogRefused(_logger, context.RemoteEndPoint, status, reason!);
            Refuse(context.Response, status, reason!);
            return true;
        }

        // Count the place first: two upgrades racing for the last one cannot both take it.
        if (Interlocked.Increment(ref _queued) > _options.MaxPendingConnections || _disposed)
        {
            Interlocked.Decrement(ref _queued);
            LogRefused(_logger, context.RemoteEndPoint, 503, "too many connections waiting to be accepted");
            Refuse(context.Response, 503, "The server is busy; try again shortly.");
            return true;
        }

        Transport upgraded;
        try
        {
            request.TryGetHeader("Sec-WebSocket-Key"u8, out ReadOnlySpan<byte> key);
            Span<byte> headers = stackalloc byte[256];
            int length = 0;
            Append(headers, ref length, "Sec-WebSocket-Accept: "u8);
            length += Handshake.ComputeAccept(key.Trim(" \t"u8), headers[length..]);
            Append(headers, ref length, "\r\n"u8);
            if (subProtocol is not null)
            {
                Append(headers, ref length, "Sec-WebSocket-Protocol: "u8);
                Append(headers, ref length, subProtocol);
                Append(headers, ref length, "\r\n"u8);
            }

            upgraded = await context.UpgradeAsync("websocket"u8, headers[..length]).ConfigureAwait(false);
        }
        catch
        {
            Interlocked.Decrement(ref _queued);
            throw;
        }

#pragma warning disable CA2000 // Handed to the listener's queue; disposed by whoever accepts it, or below.
        var transport = new WebSocketTransport(upgraded, isClient: false, _options)
        {
            SubProtocol = subProtocol is null ? null : Encoding.ASCII.GetString(subProtocol),
        };
        if (!TryEnqueue(transport))
        {
            Interlocked.Decrement(ref _queued);
            transport.Dispose(); // closed in the meantime: the server is stopping
        }
#pragma warning restore CA2000

        return true;

        static void Append(Span<byte> destination, ref int length, ReadOnlySpan<byte> bytes)
        {
            bytes.CopyTo(destination[length..]);
            length += bytes.Length;
        }
    }

    private bool Check(HttpContext context, out int status, out string? reason, out byte[]? subProtocol)
    {
        HttpRequestHead request = context.Request;
        subProtocol = null;
        (status, reason) = (0, null);
        if (request.Method != HttpRequestMethod.Get)
        {
            (status, reason) = (405, "A WebSocket handshake is a GET request.");
        }
        else if (request.Version != HttpProtocolVersion.Http11)
        {
            (status, reason) = (426, "A WebSocket handshake needs HTTP/1.1.");
        }
        else if (!request.ConnectionUpgrade || !Handshake.HasToken(request.Upgrade, "websocket"u8))
        {
            (status, reason) = (426, "This is a WebSocket endpoint: ask for Upgrade: websocket with Connection: Upgrade.");
        }
        else if (Count(request, "Sec-WebSocket-Key"u8) > 1 || Count(request, "Sec-WebSocket-Version"u8) > 1 || Count(request, "Origin"u8) > 1)
        {
            (status, reason) = (400, "Sec-WebSocket-Key, Sec-WebSocket-Version and Origin may appear once each.");
        }
        else if (!request.TryGetHeader("Sec-WebSocket-Version"u8, out ReadOnlySpan<byte> version) || !version.Trim(" \t"u8).SequenceEqual("13"u8))
        {
            (status, reason) = (426, "Only WebSocket version 13 is spoken.");
        }
        else if (!request.TryGetHeader("Sec-WebSocket-Key"u8, out ReadOnlySpan<byte> key) || !Handshake.IsValidKey(key.Trim(" \t"u8)))
        {
            (status, reason) = (400, "Sec-WebSocket-Key must be the base64 of 16 bytes.");
        }
        else if (request.HasBody)
        {
            (status, reason) = (400, "A WebSocket handshake has no body.");
        }
        else if (!Handshake.IsOriginAllowed(OriginOf(request, out bool hasOrigin), request.Host, _options.AllowedOrigins, hasOrigin)
            && !(_options.OriginValidator is { } validator && validator(Encoding.UTF8.GetString(OriginOf(request, out _).Trim(" \t"u8)))))
        {
            (status, reason) = (403, "This origin may not open a WebSocket here (a server reached by name lists its pages' origins: WebSocketOptions.AllowedOrigins, parley serve --allowed-origin).");
        }
        else if (_disposed)
        {
            (status, reason) = (503, "The server is stopping.");
        }
        else
        {
            subProtocol = ChooseSubProtocol(request);
        }

        return status == 0;

        static ReadOnlySpan<byte> OriginOf(HttpRequestHead request, out bool hasOrigin)
        {
            hasOrigin = request.TryGetHeader("Origin"u8, out ReadOnlySpan<byte> origin);
            return origin;
        }
    }

    private static int Count(HttpRequestHead request, ReadOnlySpan<byte> name)
    {
        int count = 0;
        for (int i = 0; i < request.HeaderCount; i++)
        {
            if (Ascii.EqualsIgnoreCase(request.GetHeaderName(i), name))
            {
                count++;
            }
        }

        return count;
    }

    private byte[]? ChooseSubProtocol(HttpRequestHead request)
    {
        if (_subProtocols.Length == 0)
        {
            return null;
        }

        // Every Sec-WebSocket-Protocol field counts (a client may send several).
        foreach (byte[] spoken in _subProtocols)
        {
            for (int i = 0; i < request.HeaderCount; i++)
            {
                if (Ascii.EqualsIgnoreCase(request.GetHeaderName(i), "Sec-WebSocket-Protocol"u8) && Handshake.HasToken(request.GetHeaderValue(i), spoken))
                {
                    return spoken;
                }
            }
        }

        return null;
    }

    private static void Refuse(HttpResponse response, int status, string reason)
    {
        response.StartHead(status);
        if (status == 426)
        {
            response.AddEncodedHeaders("Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"u8);
        }
        else if (status == 405)
        {
            response.AddEncodedHeaders("Allow: GET\r\n"u8);
        }
        else if (status == 503)
        {
            response.AddEncodedHeaders("Retry-After: 1\r\n"u8);
        }

        response.AddEncodedHeaders("Content-Type: text/plain; charset=utf-8\r\n"u8);
        byte[] body = Encoding.UTF8.GetBytes($"{status}: {reason}\n");
        response.EndHead(body.Length);
        response.WriteBody(body);
    }

    [LoggerMessage(1, LogLevel.Debug, "WebSocket handshake from {RemoteEndPoint} refused with {Status}: {Reason}")]
    private static partial void LogRefused(ILogger logger, EndPoint? remoteEndPoint, int status, string reason);
}
