using System.Text;

namespace Parley.Http;

/// <summary>
/// One parsed request head: the request line, the header fields, and the fields a server acts
/// on picked out as it parsed. Reused request after request (<see cref="Reset"/>), so parsing
/// allocates nothing. Its spans point into the bytes given to the parser (or into its own copy
/// when they came in several segments): valid until those bytes are consumed or the head is
/// reset.
/// </summary>
/// <remarks>Not thread-safe: one connection parses into one head at a time.</remarks>
public sealed class HttpRequestHead
{
    internal const int NoValue = -1;

    private readonly HeaderRange[] _headers;
    private ReadOnlyMemory<byte> _source;
    private byte[]? _copy;

    /// <summary>Creates a head holding at most <paramref name="maxHeaderCount"/> header fields.</summary>
    public HttpRequestHead(int maxHeaderCount = HttpRequestParser.DefaultMaxHeaderCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxHeaderCount);
        _headers = new HeaderRange[maxHeaderCount];
        Reset();
    }

    /// <summary>The method, when it is one the enum names.</summary>
    public HttpRequestMethod Method { get; internal set; }

    /// <summary>The method token as sent.</summary>
    public ReadOnlySpan<byte> MethodBytes => Slice(MethodRange);

    /// <summary>The request target as sent (origin-form <c>/path?query</c>, absolute-form, or <c>*</c>).</summary>
    public ReadOnlySpan<byte> Target => Slice(TargetRange);

    /// <summary>The target's path, still percent-encoded: from the first <c>/</c> (after the
    /// authority in absolute-form) to the <c>?</c>; empty for <c>*</c>.</summary>
    public ReadOnlySpan<byte> Path => Slice(PathRange);

    /// <summary>The query without its <c>?</c>; empty when there is none.</summary>
    public ReadOnlySpan<byte> Query => Slice(QueryRange);

    /// <summary>The protocol version.</summary>
    public HttpProtocolVersion Version { get; internal set; }

    /// <summary>Whether the connection stays open after the response: HTTP/1.1 unless
    /// <c>Connection: close</c>, HTTP/1.0 only with <c>Connection: keep-alive</c>.</summary>
    public bool KeepAlive { get; internal set; }

    /// <summary>The <c>Connection</c> header named <c>upgrade</c>.</summary>
    public bool ConnectionUpgrade { get; internal set; }

    /// <summary>The body's length from <c>Content-Length</c>; -1 when there is none (no body, or chunked).</summary>
    public long ContentLength { get; internal set; }

    /// <summary>The body is chunked (<c>Transfer-Encoding: chunked</c>).</summary>
    public bool Chunked { get; internal set; }

    /// <summary>The request expects <c>100 Continue</c> before it sends its body.</summary>
    public bool ExpectContinue { get; internal set; }

    /// <summary>The request has a body (a content length above 0, or chunked).</summary>
    public bool HasBody => Chunked || ContentLength > 0;

    /// <summary>The <c>Host</c> header's value; empty when absent.</summary>
    public ReadOnlySpan<byte> Host => Known(KnownHeader.Host);

    /// <summary>The <c>If-None-Match</c> header's value; empty when absent.</summary>
    public ReadOnlySpan<byte> IfNoneMatch => Known(KnownHeader.IfNoneMatch);

    /// <summary>The <c>If-Modified-Since</c> header's value; empty when absent.</summary>
    public ReadOnlySpan<byte> IfModifiedSince => Known(KnownHeader.IfModifiedSince);

    /// <summary>The <c>Range</c> header's value; empty when absent.</summary>
    public ReadOnlySpan<byte> Range => Known(KnownHeader.Range);

    /// <summary>The <c>If-Range</c> header's value; empty when absent.</summary>
    public ReadOnlySpan<byte> IfRange => Known(KnownHeader.IfRange);

    /// <summary>The <c>Accept-Encoding</c> header's value; empty when absent.</summary>
    public ReadOnlySpan<byte> AcceptEncoding => Known(KnownHeader.AcceptEncoding);

    /// <summary>The <c>If-Match</c> header's value; empty when absent.</summary>
    public ReadOnlySpan<byte> IfMatch => Known(KnownHeader.IfMatch);

    /// <summary>The <c>If-Unmodified-Since</c> header's value; empty when absent.</summary>
    public ReadOnlySpan<byte> IfUnmodifiedSince => Known(KnownHeader.IfUnmodifiedSince);

    /// <summary>The <c>Upgrade</c> header's value; empty when absent.</summary>
    public ReadOnlySpan<byte> Upgrade => Known(KnownHeader.Upgrade);

    /// <summary>How many header fields the request has.</summary>
    public int HeaderCount { get; internal set; }

    /// <summary>The status to answer an invalid request with; 0 while it is valid.</summary>
    public int ErrorStatus { get; internal set; }

    /// <summary>Why the request is invalid, for the response body and logs; null while it is valid.</summary>
    public string? ErrorReason { get; internal set; }

    /// <summary>The length of the head, request line to the empty line, once complete.</summary>
    public int HeadLength { get; internal set; }

    /// <summary>The name of header field <paramref name="index"/> as sent.</summary>
    public ReadOnlySpan<byte> GetHeaderName(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)HeaderCount, nameof(index));
        HeaderRange range = _headers[index];
        return _source.Span.Slice(range.NameStart, range.NameLength);
    }

    /// <summary>The value of header field <paramref name="index"/>, without surrounding whitespace.</summary>
    public ReadOnlySpan<byte> GetHeaderValue(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)HeaderCount, nameof(index));
        HeaderRange range = _headers[index];
        return _source.Span.Slice(range.ValueStart, range.ValueLength);
    }

    /// <summary>Finds the first header field named <paramref name="name"/> (ASCII, any case).</summary>
    public bool TryGetHeader(ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value)
    {
        ReadOnlySpan<byte> source = _source.Span;
        for (int i = 0; i < HeaderCount; i++)
        {
            HeaderRange range = _headers[i];
            if (range.NameLength == name.Length && Ascii.EqualsIgnoreCase(source.Slice(range.NameStart, range.NameLength), name))
            {
                value = source.Slice(range.ValueStart, range.ValueLength);
                return true;
            }
        }

        value = default;
        return false;
    }

    /// <summary>Forgets the last request, to parse the next one.</summary>
    public void Reset()
    {
        Method = HttpRequestMethod.Other;
        Version = HttpProtocolVersion.Http11;
        KeepAlive = false;
        ConnectionUpgrade = false;
        ContentLength = NoValue;
        Chunked = false;
        ExpectContinue = false;
        HeaderCount = 0;
        ErrorStatus = 0;
        ErrorReason = null;
        HeadLength = 0;
        MethodRange = default;
        TargetRange = default;
        PathRange = default;
        QueryRange = default;
        KnownValues.AsSpan().Fill(new Segment(NoValue, 0));
        Parsed = 0;
        Scanned = 0;
        Copied = 0;
        InHeaders = false;
        ConnectionClose = false;
        ConnectionKeepAlive = false;
        SawContentLength = false;
        SawTransferEncoding = false;
        _source = default;
    }

    // ---- parser state (HttpRequestParser fills these) ----

    internal Segment MethodRange;
    internal Segment TargetRange;
    internal Segment PathRange;
    internal Segment QueryRange;
    internal readonly Segment[] KnownValues = new Segment[(int)KnownHeader.Count];

    /// <summary>Bytes of the request taken as whole lines so far.</summary>
    internal int Parsed;

    /// <summary>Bytes searched for a line feed so far (never searched twice).</summary>
    internal int Scanned;

    /// <summary>Bytes copied into <see cref="_copy"/> when the input came in several segments.</summary>
    internal int Copied;

    internal bool InHeaders;
    internal bool ConnectionClose;
    internal bool ConnectionKeepAlive;
    internal bool SawContentLength;
    internal bool SawTransferEncoding;

    internal ReadOnlyMemory<byte> Source
    {
        get => _source;
        set => _source = value;
    }

    internal int MaxHeaderCount => _headers.Length;

    internal void AddHeader(int nameStart, int nameLength, int valueStart, int valueLength) =>
        _headers[HeaderCount++] = new HeaderRange(nameStart, nameLength, valueStart, valueLength);

    /// <summary>A buffer of at least <paramref name="size"/> bytes holding the first
    /// <see cref="Copied"/> bytes copied so far: the multi-segment path's linear copy.</summary>
    internal byte[] EnsureCopy(int size)
    {
        if (_copy is null || _copy.Length < size)
        {
            byte[] larger = new byte[Math.Max(size, Math.Min(Math.Max(_copy?.Length * 2 ?? 0, 1024), HttpRequestParser.MaxCopySize))];
            _copy?.AsSpan(0, Copied).CopyTo(larger);
            _copy = larger;
        }

        return _copy;
    }

    private ReadOnlySpan<byte> Known(KnownHeader header)
    {
        Segment range = KnownValues[(int)header];
        return range.Start == NoValue ? default : _source.Span.Slice(range.Start, range.Length);
    }

    private ReadOnlySpan<byte> Slice(Segment range) => _source.Span.Slice(range.Start, range.Length);

    internal readonly record struct Segment(int Start, int Length);

    private readonly record struct HeaderRange(int NameStart, int NameLength, int ValueStart, int ValueLength);
}

/// <summary>The header fields the parser picks out as it goes.</summary>
internal enum KnownHeader
{
    Host,
    IfNoneMatch,
    IfModifiedSince,
    Range,
    IfRange,
    AcceptEncoding,
    Upgrade,
    IfMatch,
    IfUnmodifiedSince,
    Count,
}
