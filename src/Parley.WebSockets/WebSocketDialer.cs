using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Parley.WebSockets.Internal;

namespace Parley.WebSockets;

/// <summary>
/// Opens WebSocket connections for a <see cref="ParleyClient"/>: dials the server (TCP, with TLS
/// for <c>wss://</c>), sends the opening handshake, checks the <c>101</c> answer and its
/// <c>Sec-WebSocket-Accept</c>, and hands back the connection's transport. Pair it with
/// <see cref="WebSocketOptions.CreateFramer"/>(<c>isClient: true</c>) as the client's framer,
/// and leave <see cref="ParleyClientOptions.Tls"/> unset (TLS is this dialer's, under the handshake).
/// </summary>
public sealed class WebSocketDialer : ConnectionDialer
{
    private readonly Uri _uri;
    private readonly ConnectionDialer _inner;
    private readonly WebSocketOptions _options;
    private readonly TlsClientOptions? _tls;

    /// <summary>Creates a dialer for <paramref name="uri"/> (<c>ws://host:port/path</c> or <c>wss://…</c>).</summary>
    /// <param name="uri">The WebSocket address.</param>
    /// <param name="options">Limits and what to offer; the defaults when null.</param>
    /// <param name="tls">TLS settings for <c>wss://</c> (the default validation when null).</param>
    /// <param name="inner">How to reach the server; a TCP dialer for the URI's host and port when null.</param>
    public WebSocketDialer(Uri uri, WebSocketOptions? options = null, TlsClientOptions? tls = null, ConnectionDialer? inner = null)
    {
        ArgumentNullException.ThrowIfNull(uri);
        if (!uri.IsAbsoluteUri || uri.Scheme is not ("ws" or "wss"))
        {
            throw new ArgumentException("A WebSocket address starts with ws:// or wss://.", nameof(uri));
        }

        _uri = uri;
        _options = options ?? new WebSocketOptions();
        _options.Validate();
        _tls = uri.Scheme == "wss" ? tls ?? new TlsClientOptions() : null;
        _inner = inner ?? new SocketConnectionDialer(ResolveEndPoint(uri));
    }

    /// <inheritdoc/>
    public override string Address => _uri.ToString();

    /// <inheritdoc/>
    public override string? Host => _uri.Host;

    /// <summary>The subprotocol the server chose in the last handshake, if any.</summary>
    public string? SubProtocol { get; private set; }

    /// <inheritdoc/>
    public override async ValueTask<Transport> ConnectAsync(CancellationToken cancellationToken = default)
    {
        Transport transport = await _inner.ConnectAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_tls is not null)
            {
                transport = await TlsTransport.AuthenticateAsClientAsync(transport, _tls, _tls.TargetHost ?? _uri.IdnHost, cancellationToken).ConfigureAwait(false);
            }

            using CancellationTokenRegistration abort = cancellationToken.UnsafeRegister(static state => ((Transport)state!).Dispose(), transport);
            string key = Handshake.NewKey();
            await transport.SendAsync(BuildRequest(key)).ConfigureAwait(false);
            (byte[] rest, string? subProtocol) = await ReadResponseAsync(transport, key).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            SubProtocol = subProtocol;
            Transport upgraded = rest.Length == 0 ? transport : new Parley.Http.PrefixedTransport(transport, rest);
            return new WebSocketTransport(upgraded, isClient: true, _options) { SubProtocol = subProtocol };
        }
        catch
        {
            transport.Dispose();
            throw;
        }
    }

    private byte[] BuildRequest(string key)
    {
        var request = new StringBuilder();
        request.Append("GET ").Append(_uri.PathAndQuery).Append(" HTTP/1.1\r\n");
        request.Append("Host: ").Append(_uri.IsDefaultPort ? _uri.IdnHost : $"{_uri.IdnHost}:{_uri.Port}").Append("\r\n");
        request.Append("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n");
        request.Append("Sec-WebSocket-Key: ").Append(key).Append("\r\n");
        if (_options.Origin is { } origin)
        {
            request.Append("Origin: ").Append(origin).Append("\r\n");
        }

        if (_options.SubProtocols.Count > 0)
        {
            request.Append("Sec-WebSocket-Protocol: ").AppendJoin(", ", _options.SubProtocols).Append("\r\n");
        }

        request.Append("\r\n");
        return Encoding.ASCII.GetBytes(request.ToString());
    }

    /// <summary>Reads the answer's head and checks it; returns what followed it (the server's first frames).</summary>
    private async ValueTask<(byte[] rest, string? subProtocol)> ReadResponseAsync(Transport transport, string key)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(_options.MaxHandshakeResponseSize);
        try
        {
            int length = 0;
            int end;
            while ((end = buffer.AsSpan(0, length).IndexOf("\r\n\r\n"u8)) < 0)
            {
                if (length == _options.MaxHandshakeResponseSize)
                {
                    throw new WebSocketHandshakeException(0, $"the server's answer is over {_options.MaxHandshakeResponseSize} bytes without ending");
                }

                int read = await transport.ReceiveAsync(buffer.AsMemory(length, _options.MaxHandshakeResponseSize - length)).ConfigureAwait(false);
                if (read == 0)
                {
                    throw new WebSocketHandshakeException(0, "the server closed the connection during the handshake");
                }

                length += read;
            }

            string head = Encoding.Latin1.GetString(buffer, 0, end);
            string? subProtocol = Check(head, key);
            return (buffer.AsSpan(end + 4, length - end - 4).ToArray(), subProtocol);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private string? Check(string head, string key)
    {
        string[] lines = head.Split("\r\n");
        string[] statusLine = lines[0].Split(' ', 3);
        if (statusLine.Length < 2 || !statusLine[0].StartsWith("HTTP/1.", StringComparison.Ordinal) || !int.TryParse(statusLine[1], out int status))
        {
            throw new WebSocketHandshakeException(0, "the server's answer is not HTTP");
        }

        if (status != 101)
        {
            throw new WebSocketHandshakeException(status, $"the server answered {status} {(statusLine.Length > 2 ? statusLine[2] : "")}".TrimEnd());
        }

        var fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (string line in lines.Skip(1))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                string name = line[..colon];
                string value = line[(colon + 1)..].Trim();
                fields[name] = fields.TryGetValue(name, out string? earlier) ? $"{earlier}, {value}" : value;
            }
        }

        Span<byte> expected = stackalloc byte[28];
        Handshake.ComputeAccept(Encoding.ASCII.GetBytes(key), expected);
        if (!fields.TryGetValue("Upgrade", out string? upgrade) || !upgrade.Equals("websocket", StringComparison.OrdinalIgnoreCase)
            || !fields.TryGetValue("Connection", out string? connection) || !Handshake.HasToken(Encoding.ASCII.GetBytes(connection), "upgrade"u8)
            || !fields.TryGetValue("Sec-WebSocket-Accept", out string? accept) || !Encoding.ASCII.GetBytes(accept).AsSpan().SequenceEqual(expected))
        {
            throw new WebSocketHandshakeException(101, "the server's 101 answer is not a valid WebSocket handshake (Upgrade, Connection or Sec-WebSocket-Accept)");
        }

        if (fields.TryGetValue("Sec-WebSocket-Extensions", out string? extensions) && extensions.Length > 0)
        {
            throw new WebSocketHandshakeException(101, $"the server agreed to an extension that was not offered: {extensions}");
        }

        if (fields.TryGetValue("Sec-WebSocket-Protocol", out string? chosen))
        {
            if (!_options.SubProtocols.Contains(chosen, StringComparer.Ordinal))
            {
                throw new WebSocketHandshakeException(101, $"the server chose a subprotocol that was not offered: {chosen}");
            }

            return chosen;
        }

        return null;
    }

    private static EndPoint ResolveEndPoint(Uri uri)
    {
        int port = uri.IsDefaultPort ? (uri.Scheme == "wss" ? 443 : 80) : uri.Port;
        return IPAddress.TryParse(uri.IdnHost.Trim('[', ']'), out IPAddress? address)
            ? new IPEndPoint(address, port)
            : new DnsEndPoint(uri.IdnHost, port, AddressFamily.Unspecified);
    }
}

/// <summary>The server refused the WebSocket handshake, or answered it wrongly.</summary>
public sealed class WebSocketHandshakeException : IOException
{
    /// <summary>Creates the exception.</summary>
    public WebSocketHandshakeException(int status, string reason)
        : base($"WebSocket handshake failed: {reason}")
    {
        Status = status;
    }

    /// <summary>Creates the exception.</summary>
    public WebSocketHandshakeException()
        : this(0, "unknown")
    {
    }

    /// <summary>Creates the exception.</summary>
    public WebSocketHandshakeException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public WebSocketHandshakeException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The HTTP status the server answered with; 0 when it gave none.</summary>
    public int Status { get; }
}
