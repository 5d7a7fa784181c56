namespace Parley.Http;

/// <summary>
/// Answers requests mounted on an <see cref="HttpServer"/> (<see cref="HttpServerOptions.Map"/>
/// or <see cref="HttpServerOptions.Fallback"/>). One instance serves every connection, at once
/// on several threads: keep per-request state in the <see cref="HttpContext"/>, not in fields.
/// </summary>
public abstract class HttpHandler
{
    /// <summary>
    /// Answers the request through <see cref="HttpContext.Response"/> and returns true, or
    /// returns false without writing anything to let the next handler try. Complete
    /// synchronously where possible: a synchronously completed <see cref="ValueTask{TResult}"/>
    /// costs nothing. A handler that throws before writing gets the client a 500 and the
    /// connection closed; after writing, the connection is aborted.
    /// </summary>
    public abstract ValueTask<bool> HandleAsync(HttpContext context);
}
