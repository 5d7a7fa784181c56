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
