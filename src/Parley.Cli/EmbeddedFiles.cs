using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Parley.Http;

namespace Parley.Cli;

/// <summary>
/// Serves the files embedded in this assembly under <c>web/</c> (the chat page, the dashboard):
/// GET and HEAD, an ETag with 304 for a match, <c>Cache-Control: no-cache</c> (revalidated each
/// load, so a new server version is picked up at once), and headers that keep the pages to
/// themselves: a content security policy allowing only this origin, no framing, no sniffing.
/// </summary>
internal sealed class EmbeddedFiles : HttpHandler
{
    private const string ConnectSources = "{connect-src}";

    private const string Security =
        "Content-Security-Policy: default-src 'self'; connect-src 'self'" + ConnectSources + "; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'\r\n"
        + "X-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\nCache-Control: no-cache\r\n";

    private readonly Dictionary<string, Entry> _files = new(StringComparer.Ordinal);
    private readonly Func<IReadOnlyList<string>>? _connectSources;

    private sealed record Entry(byte[] Body, byte[] Headers, byte[] ETag);

    /// <param name="aliases">Paths answered with a file: <c>/</c> → <c>index.html</c>, …</param>
    /// <param name="connectSources">In a cluster: the other nodes' sockets now (<c>ws://host:port/ws</c>),
    /// which the pages may connect to besides their own origin (the policy is then written per request).</param>
    public EmbeddedFiles(IReadOnlyDictionary<string, string> aliases, Func<IReadOnlyList<string>>? connectSources = null)
    {
        _connectSources = connectSources;
        Assembly assembly = typeof(EmbeddedFiles).Assembly;
        foreach (string resource in assembly.GetManifestResourceNames().Where(name => name.StartsWith("web/", StringComparison.Ordinal)))
        {
            using Stream stream = assembly.GetManifestResourceStream(resource)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            byte[] body = copy.ToArray();
            string etag = $"\"{Convert.ToHexStringLower(SHA256.HashData(body).AsSpan(0, 8))}\"";
            string name = resource["web/".Length..];
            string headers = $"Content-Type: {ContentType(name)}\r\nETag: {etag}\r\n{Security}";
            _files["/" + name] = new Entry(body, Encoding.ASCII.GetBytes(connectSources is null ? headers.Replace(ConnectSources, "", StringComparison.Ordinal) : headers), Encoding.ASCII.GetBytes(etag));
        }

        foreach ((string path, string file) in aliases)
        {
            if (_files.TryGetValue("/" + file, out Entry? entry))
            {
                _files[path] = entry;
            }
        }
    }

    /// <summary>The paths served.</summary>
    public IEnumerable<string> Paths => _files.Keys;

    public override ValueTask<bool> HandleAsync(HttpContext context)
    {
        if (!_files.TryGetValue(context.Path.ToString(), out Entry? entry))
        {
            return new ValueTask<bool>(false);
        }

        HttpResponse response = context.Response;
        if (context.Request.Method is not (HttpRequestMethod.Get or HttpRequestMethod.Head))
        {
            response.StartHead(405);
            response.AddEncodedHeaders("Allow: GET, HEAD\r\n"u8);
            response.EndHead(0);
            return new ValueTask<bool>(true);
        }

        ReadOnlySpan<byte> headers = entry.Headers;
        if (_connectSources is not null)
        {
            headers = Encoding.ASCII.GetBytes(Encoding.ASCII.GetString(headers).Replace(ConnectSources, CspSources(_connectSources()), StringComparison.Ordinal));
        }

        ReadOnlySpan<byte> ifNoneMatch = context.Request.IfNoneMatch;
        if (!ifNoneMatch.IsEmpty && (ifNoneMatch.IndexOf(entry.ETag) >= 0 || ifNoneMatch.Trim(" "u8).SequenceEqual("*"u8)))
        {
            response.StartHead(304);
            response.AddEncodedHeaders(headers);
            response.EndHead(0);
            return new ValueTask<bool>(true);
        }

        response.StartHead(200);
        response.AddEncodedHeaders(headers);
        response.EndHead(entry.Body.Length);
        response.WriteBody(entry.Body);
        return new ValueTask<bool>(true);
    }

    /// <summary>
    /// The sockets as CSP sources: <c>ws://host:port</c> each (a node bound to every address, whose
    /// page reaches it by the name the page was loaded from, as <c>ws://*:port</c>); only
    /// characters a source may hold, so an address cannot add a directive.
    /// </summary>
    internal static string CspSources(IReadOnlyList<string> sockets)
    {
        var sources = new StringBuilder();
        foreach (string socket in sockets)
        {
            if (!Uri.TryCreate(socket, UriKind.Absolute, out Uri? uri) || uri.Scheme is not ("ws" or "wss"))
            {
                continue;
            }

            string host = uri.Host is "0.0.0.0" or "[::]" or "::" ? "*" : uri.Host;
            string source = $"{uri.Scheme}://{host}:{uri.Port}";
            if (source.All(c => char.IsAsciiLetterOrDigit(c) || c is ':' or '/' or '.' or '*' or '[' or ']' or '-'))
            {
                sources.Append(' ').Append(source);
            }
        }

        return sources.ToString();
    }

    private static string ContentType(string name) => Path.GetExtension(name) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".svg" => "image/svg+xml",
        _ => "application/octet-stream",
    };
}
