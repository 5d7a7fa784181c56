namespace Parley.Http;

/// <summary>The request's protocol version.</summary>
public enum HttpProtocolVersion
{
    /// <summary>HTTP/1.0: the connection closes after the response unless the request asks to keep it.</summary>
    Http10,

    /// <summary>HTTP/1.1 (and 1.x above it, read as 1.1): keep-alive unless the request says close.</summary>
    Http11,
}
