using System.Buffers;
using System.Net;

namespace Parley.Http;

/// <summary>
/// One request being answered: its head, its decoded path, and the response. Pooled and
/// reused request after request, so handlers must not keep it past their call.
/// </summary>
public sealed class HttpContext
{
    private char[]? _path;

    internal HttpContext(HttpRequestHead request) => Request = request;

    /// <summary>The request's head.</summary>
    public HttpRequestHead Request { get; }

    /// <summary>Where the answer is written.</summary>
    public HttpResponse Response { get; internal set; } = null!;

    /// <summary>The peer's address, when the transport knows it.</summary>
    public EndPoint? RemoteEndPoint { get; internal set; }

    /// <summary>
    /// The request's path, percent-decoded once (UTF-8), with empty and <c>.</c> segments
    /// removed and a trailing slash kept: always starts with <c>/</c>. A path that would climb
    /// out (a <c>..</c> segment), or holds an encoded slash or backslash, a NUL or invalid UTF-8,
    /// never gets here: the server answers 400 first.
    /// </summary>
    public ReadOnlySpan<char> Path => _path.AsSpan(0, PathLength);

    internal int PathLength { get; private set; }

    /// <summary>
    /// Switches this connection to another protocol (RFC 9110, section 7.8): answers
    /// <c>101 Switching Protocols</c> with <c>Upgrade: </c><paramref name="protocol"/> and
    /// <paramref name="headerLines"/> (<c>Name: value\r\n</c> each, written as given), sends it
    /// after the responses to earlier pipelined requests, and hands the transport over. From then
    /// on the HTTP server has nothing to do with the connection (it no longer counts it, times it,
    /// or closes it when stopping): the caller owns the transport and must dispose it. Bytes the
    /// peer sent after the request's head are read first from the transport returned.
    /// </summary>
    /// <remarks>The handler checks the request first (its method, headers, that it has no body)
    /// and returns true after this call.</remarks>
    /// <exception cref="InvalidOperationException">The response has started, the request is not
    /// HTTP/1.1, has a body, or the server is stopping.</exception>
    public ValueTask<Transport> UpgradeAsync(ReadOnlySpan<byte> protocol, ReadOnlySpan<byte> headerLines)
    {
        if (Request.Version != HttpProtocolVersion.Http11 || Request.HasBody)
        {
            throw new InvalidOperationException("Only an HTTP/1.1 request without a body can switch protocols.");
        }

        if (!HttpChars.IsToken(protocol.IndexOf((byte)'/') is int slash and >= 0 ? protocol[..slash] : protocol))
        {
            throw new ArgumentException("The protocol must be a token (a version may follow a slash).", nameof(protocol));
        }

        if (Response.Connection.IsStopping)
        {
            throw new InvalidOperationException("The server is stopping.");
        }

        Response.WriteSwitchingProtocols(protocol, headerLines);
        return Response.Connection.DetachAsync();
    }

    internal bool TryDecodePath(out string? reason)
    {
        int needed = Request.Path.Length + 2;
        if (_path is null || _path.Length < needed)
        {
            ReleasePath();
            _path = ArrayPool<char>.Shared.Rent(Math.Max(needed, 256));
        }

        if (!PathDecoder.TryDecode(Request.Path, _path, out int length, out reason))
        {
            PathLength = 0;
            return false;
        }

        PathLength = length;
        return true;
    }

    /// <summary>Back to the pool: the head forgets its request, the path buffer goes back.</summary>
    internal void Release()
    {
        Request.Reset();
        ReleasePath();
        PathLength = 0;
        RemoteEndPoint = null;
        Response = null!;
    }

    private void ReleasePath()
    {
        if (_path is not null)
        {
            ArrayPool<char>.Shared.Return(_path);
            _path = null;
        }
    }
}
