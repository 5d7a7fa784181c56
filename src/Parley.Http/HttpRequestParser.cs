using System.Buffers;
using System.Text;

namespace Parley.Http;

/// <summary>
/// Parses HTTP/1.1 request heads (RFC 9112) into a reusable <see cref="HttpRequestHead"/>,
/// allocating nothing. It parses a line at a time and remembers where it stopped, so a head
/// arriving a byte at a time is searched once, not once per byte. Strict where leniency lets
/// two parsers disagree (request smuggling): no whitespace before a header's colon, no line
/// folding, no control bytes in values, one <c>Host</c>, no <c>Content-Length</c> beside
/// <c>Transfer-Encoding</c>, <c>chunked</c> last. Lenient where it costs nothing: a bare LF
/// ends a line as CRLF does (RFC 9112 §2.2), empty lines before the request line are skipped.
/// </summary>
/// <remarks>Thread-safe: the parser holds only its limits; the head holds the state.</remarks>
public sealed class HttpRequestParser
{
    /// <summary>Default <see cref="MaxRequestLineLength"/>: 8 KiB, nginx's and Kestrel's.</summary>
    public const int DefaultMaxRequestLineLength = 8 * 1024;

    /// <summary>Default <see cref="MaxHeadSize"/>: 32 KiB (Kestrel's; nginx's 4 × 8 KiB buffers).</summary>
    public const int DefaultMaxHeadSize = 32 * 1024;

    /// <summary>Default <see cref="MaxHeaderCount"/>: 100, as Kestrel.</summary>
    public const int DefaultMaxHeaderCount = 100;

    internal const int MaxCopySize = 1024 * 1024;

    private const int MaxLeadingEmptyLines = 8;

    /// <summary>Creates a parser with these limits.</summary>
    /// <param name="maxRequestLineLength">Longest request line; past it, 414. 64 bytes to 1 MiB.</param>
    /// <param name="maxHeadSize">Longest head, request line to the empty line; past it, 431. At least the request line's limit, at most 1 MiB.</param>
    /// <param name="maxHeaderCount">Most header fields; past it, 431. 1 to 10 000; a head given to <see cref="TryParse(in ReadOnlySequence{byte}, HttpRequestHead, out long)"/> must hold as many.</param>
    public HttpRequestParser(int maxRequestLineLength = DefaultMaxRequestLineLength, int maxHeadSize = DefaultMaxHeadSize, int maxHeaderCount = DefaultMaxHeaderCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRequestLineLength, 64);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxRequestLineLength, MaxCopySize);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxHeadSize, maxRequestLineLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxHeadSize, MaxCopySize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxHeaderCount);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxHeaderCount, 10_000);
        MaxRequestLineLength = maxRequestLineLength;
        MaxHeadSize = maxHeadSize;
        MaxHeaderCount = maxHeaderCount;
    }

    /// <summary>A parser with the default limits.</summary>
    public static HttpRequestParser Default { get; } = new();

    /// <summary>Longest request line in bytes (method, target, version), without its line end.</summary>
    public int MaxRequestLineLength { get; }

    /// <summary>Longest head in bytes, line ends included.</summary>
    public int MaxHeadSize { get; }

    /// <summary>Most header fields.</summary>
    public int MaxHeaderCount { get; }

    /// <summary>
    /// Parses the head that <paramref name="buffer"/> starts with. On
    /// <see cref="HttpParseStatus.NeedMoreData"/>, call again with the same bytes and more after
    /// them (the head remembers how far it got; <see cref="HttpRequestHead.Reset"/> starts over).
    /// </summary>
    /// <param name="buffer">The bytes from the request's first byte on.</param>
    /// <param name="head">Receives the request; it must hold <see cref="MaxHeaderCount"/> fields.</param>
    /// <param name="consumed">On <see cref="HttpParseStatus.Complete"/>, the head's length: the body (if any) or the next request starts there.</param>
    public HttpParseStatus TryParse(in ReadOnlySequence<byte> buffer, HttpRequestHead head, out long consumed)
    {
        ArgumentNullException.ThrowIfNull(head);
        if (head.MaxHeaderCount < MaxHeaderCount)
        {
            throw new ArgumentException($"The head holds {head.MaxHeaderCount} header fields; this parser allows {MaxHeaderCount}.", nameof(head));
        }

        HttpParseStatus status;
        int parsed;
        if (buffer.IsSingleSegment)
        {
            status = TryParse(buffer.First, head, out parsed);
        }
        else
        {
            status = TryParseSegments(buffer, head, out parsed);
        }

        consumed = parsed;
        return status;
    }

    // Several segments: copy what is new (never more than the head may hold) after what was
    // copied before, and parse the copy. Linear in the head's length however it arrives.
    private HttpParseStatus TryParseSegments(in ReadOnlySequence<byte> buffer, HttpRequestHead head, out int consumed)
    {
        int want = (int)Math.Min(buffer.Length, MaxHeadSize);
        if (want > head.Copied)
        {
            byte[] copy = head.EnsureCopy(want);
            buffer.Slice(head.Copied, want - head.Copied).CopyTo(copy.AsSpan(head.Copied));
            head.Copied = want;
        }

        byte[] bytes = head.EnsureCopy(head.Copied);
        return TryParseCore(bytes.AsMemory(0, head.Copied), buffer.Length, head, out consumed);
    }

    /// <summary>The contiguous fast path (the server's own receive buffer is one array).</summary>
    internal HttpParseStatus TryParse(ReadOnlyMemory<byte> buffer, HttpRequestHead head, out int consumed) =>
        TryParseCore(buffer, buffer.Length, head, out consumed);

    private HttpParseStatus TryParseCore(ReadOnlyMemory<byte> memory, long available, HttpRequestHead head, out int consumed)
    {
        consumed = 0;
        head.Source = memory;
        ReadOnlySpan<byte> span = memory.Span;
        int limit = Math.Min(span.Length, MaxHeadSize);
        while (true)
        {
            int from = Math.Max(head.Parsed, head.Scanned);
            int lineFeed = from < limit ? span[from..limit].IndexOf((byte)'\n') : -1;
            if (lineFeed < 0)
            {
                head.Scanned = limit;
                if (!head.InHeaders && limit - head.Parsed > MaxRequestLineLength + 1)
                {
                    return Fail(head, 414, "The request line is too long.");
                }

                if (available >= MaxHeadSize)
                {
                    return head.InHeaders
                        ? Fail(head, 431, "The request head is too large.")
                        : Fail(head, 414, "The request line is too long.");
                }

                return HttpParseStatus.NeedMoreData;
            }

            lineFeed += from;
            int lineStart = head.Parsed;
            int lineEnd = lineFeed > lineStart && span[lineFeed - 1] == (byte)'\r' ? lineFeed - 1 : lineFeed;
            ReadOnlySpan<byte> line = span[lineStart..lineEnd];
            head.Parsed = lineFeed + 1;
            head.Scanned = head.Parsed;

            if (!head.InHeaders)
            {
                if (line.IsEmpty)
                {
                    if (head.Parsed > MaxLeadingEmptyLines * 2)
                    {
                        return Fail(head, 400, "Too many empty lines before the request line.");
                    }

                    continue;
                }

                if (line.Length > MaxRequestLineLength)
                {
                    return Fail(head, 414, "The request line is too long.");
                }

                if (!TryParseRequestLine(line, lineStart, head))
                {
                    return HttpParseStatus.Invalid;
                }

                head.InHeaders = true;
                continue;
            }

            if (line.IsEmpty)
            {
                head.HeadLength = head.Parsed;
                if (!TryFinish(head))
                {
                    return HttpParseStatus.Invalid;
                }

                consumed = head.Parsed;
                return HttpParseStatus.Complete;
            }

            if (!TryParseHeaderLine(line, lineStart, head))
            {
                return HttpParseStatus.Invalid;
            }
        }
    }

    private static bool TryParseRequestLine(ReadOnlySpan<byte> line, int offset, HttpRequestHead head)
    {
        int methodEnd = line.IndexOf((byte)' ');
        if (methodEnd <= 0 || !HttpChars.IsToken(line[..methodEnd]))
        {
            return Reject(head, 400, "Malformed request line.");
        }

        ReadOnlySpan<byte> rest = line[(methodEnd + 1)..];
        int targetEnd = rest.IndexOf((byte)' ');
        if (targetEnd <= 0)
        {
            return Reject(head, 400, "Malformed request line.");
        }

        ReadOnlySpan<byte> target = rest[..targetEnd];
        ReadOnlySpan<byte> version = rest[(targetEnd + 1)..];
        if (version.Length != 8 || !version.StartsWith("HTTP/"u8) || !char.IsAsciiDigit((char)version[5]) || version[6] != (byte)'.' || !char.IsAsciiDigit((char)version[7]))
        {
            return Reject(head, 400, "Malformed request line.");
        }

        if (version[5] != (byte)'1')
        {
            return Reject(head, 505, "Only HTTP/1.0 and HTTP/1.1 are served.");
        }

        head.Version = version[7] == (byte)'0' ? HttpProtocolVersion.Http10 : HttpProtocolVersion.Http11;
        head.Method = HttpChars.ParseMethod(line[..methodEnd]);
        head.MethodRange = new(offset, methodEnd);

        int targetStart = offset + methodEnd + 1;
        if (!HttpChars.IsTargetText(target))
        {
            return Reject(head, 400, "The request target holds a byte it may not.");
        }

        head.TargetRange = new(targetStart, target.Length);
        int pathStart;
        if (target[0] == (byte)'/')
        {
            pathStart = 0;
        }
        else if (target.Length == 1 && target[0] == (byte)'*')
        {
            head.PathRange = new(targetStart, 0);
            head.QueryRange = new(targetStart + 1, 0);
            return true;
        }
        else if (HttpChars.TrySkipScheme(target, out int authorityStart))
        {
            // absolute-form: the path starts at the first slash after the authority (none: "/").
            int slash = target[authorityStart..].IndexOfAny((byte)'/', (byte)'?');
            pathStart = slash < 0 ? target.Length : authorityStart + slash;
        }
        else if (head.Method == HttpRequestMethod.Connect)
        {
            head.PathRange = new(targetStart, 0); // authority-form: no path
            head.QueryRange = new(targetStart + target.Length, 0);
            return true;
        }
        else
        {
            return Reject(head, 400, "The request target is not a path.");
        }

        if (target.IndexOf((byte)'#') >= 0)
        {
            return Reject(head, 400, "A request target has no fragment.");
        }

        int question = target[pathStart..].IndexOf((byte)'?');
        int pathLength = question < 0 ? target.Length - pathStart : question;
        head.PathRange = new(targetStart + pathStart, pathLength);
        head.QueryRange = question < 0
            ? new(targetStart + target.Length, 0)
            : new(targetStart + pathStart + question + 1, target.Length - pathStart - question - 1);
        return true;
    }

    private bool TryParseHeaderLine(ReadOnlySpan<byte> line, int offset, HttpRequestHead head)
    {
        if (line[0] is (byte)' ' or (byte)'\t')
        {
            return Reject(head, 400, "Header line folding is not accepted.");
        }

        int colon = line.IndexOf((byte)':');
        if (colon <= 0 || !HttpChars.IsToken(line[..colon]))
        {
            return Reject(head, 400, "Malformed header field.");
        }

        int valueStart = colon + 1;
        int valueEnd = line.Length;
        while (valueStart < valueEnd && line[valueStart] is (byte)' ' or (byte)'\t')
        {
            valueStart++;
        }

        while (valueEnd > valueStart && line[valueEnd - 1] is (byte)' ' or (byte)'\t')
        {
            valueEnd--;
        }

        ReadOnlySpan<byte> value = line[valueStart..valueEnd];
        if (!HttpChars.IsFieldValue(value))
        {
            return Reject(head, 400, "A header value holds a control byte.");
        }

        if (head.HeaderCount >= MaxHeaderCount)
        {
            return Reject(head, 431, "Too many header fields.");
        }

        head.AddHeader(offset, colon, offset + valueStart, value.Length);
        return TryNoteKnown(line[..colon], value, offset + valueStart, head);
    }

    private static bool TryNoteKnown(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, int valueOffset, HttpRequestHead head)
    {
        switch (name.Length)
        {
            case 4 when Ascii.EqualsIgnoreCase(name, "Host"u8):
                if (head.KnownValues[(int)KnownHeader.Host].Start != HttpRequestHead.NoValue)
                {
                    return Reject(head, 400, "More than one Host header.");
                }

                Note(head, KnownHeader.Host, valueOffset, value.Length);
                return true;
            case 10 when Ascii.EqualsIgnoreCase(name, "Connection"u8):
                foreach (Range token in new TokenList(value))
                {
                    ReadOnlySpan<byte> option = value[token];
                    head.ConnectionClose |= Ascii.EqualsIgnoreCase(option, "close"u8);
                    head.ConnectionKeepAlive |= Ascii.EqualsIgnoreCase(option, "keep-alive"u8);
                    head.ConnectionUpgrade |= Ascii.EqualsIgnoreCase(option, "upgrade"u8);
                }

                return true;
            case 14 when Ascii.EqualsIgnoreCase(name, "Content-Length"u8):
                if (!HttpChars.TryParseLength(value, out long length) || (head.SawContentLength && length != head.ContentLength))
                {
                    return Reject(head, 400, "Invalid Content-Length.");
                }

                head.SawContentLength = true;
                head.ContentLength = length;
                return true;
            case 17 when Ascii.EqualsIgnoreCase(name, "Transfer-Encoding"u8):
                return TryNoteTransferEncoding(value, head);
            case 6 when Ascii.EqualsIgnoreCase(name, "Expect"u8):
                head.ExpectContinue |= Ascii.EqualsIgnoreCase(value, "100-continue"u8);
                return true;
            case 13 when Ascii.EqualsIgnoreCase(name, "If-None-Match"u8):
                NoteFirst(head, KnownHeader.IfNoneMatch, valueOffset, value.Length);
                return true;
            case 17 when Ascii.EqualsIgnoreCase(name, "If-Modified-Since"u8):
                NoteFirst(head, KnownHeader.IfModifiedSince, valueOffset, value.Length);
                return true;
            case 5 when Ascii.EqualsIgnoreCase(name, "Range"u8):
                NoteFirst(head, KnownHeader.Range, valueOffset, value.Length);
                return true;
            case 8 when Ascii.EqualsIgnoreCase(name, "If-Range"u8):
                NoteFirst(head, KnownHeader.IfRange, valueOffset, value.Length);
                return true;
            case 15 when Ascii.EqualsIgnoreCase(name, "Accept-Encoding"u8):
                NoteFirst(head, KnownHeader.AcceptEncoding, valueOffset, value.Length);
                return true;
            case 8 when Ascii.EqualsIgnoreCase(name, "If-Match"u8):
                NoteFirst(head, KnownHeader.IfMatch, valueOffset, value.Length);
                return true;
            case 19 when Ascii.EqualsIgnoreCase(name, "If-Unmodified-Since"u8):
                NoteFirst(head, KnownHeader.IfUnmodifiedSince, valueOffset, value.Length);
                return true;
            case 7 when Ascii.EqualsIgnoreCase(name, "Upgrade"u8):
                NoteFirst(head, KnownHeader.Upgrade, valueOffset, value.Length);
                return true;
            default:
                return true;
        }
    }

    // Transfer-Encoding may come in several fields; together they must end in one "chunked".
    // A coding this server cannot undo is 501 (RFC 9112 §6.1); chunked not last is 400.
    private static bool TryNoteTransferEncoding(ReadOnlySpan<byte> value, HttpRequestHead head)
    {
        head.SawTransferEncoding = true;
        bool any = false;
        foreach (Range token in new TokenList(value))
        {
            any = true;
            ReadOnlySpan<byte> coding = value[token];
            if (head.Chunked)
            {
                return Reject(head, 400, "chunked must be the last transfer coding.");
            }

            if (Ascii.EqualsIgnoreCase(coding, "chunked"u8))
            {
                head.Chunked = true;
            }
            else if (head.ErrorStatus == 0)
            {
                head.ErrorStatus = 501; // decided at the end: a 400 found later wins
                head.ErrorReason = "Unsupported transfer coding.";
            }
        }

        return any || Reject(head, 400, "Empty Transfer-Encoding.");
    }

    private static bool TryFinish(HttpRequestHead head)
    {
        if (head.Version == HttpProtocolVersion.Http11 && head.KnownValues[(int)KnownHeader.Host].Start == HttpRequestHead.NoValue)
        {
            return Reject(head, 400, "An HTTP/1.1 request needs a Host header.");
        }

        if (head.SawTransferEncoding)
        {
            if (head.SawContentLength)
            {
                return Reject(head, 400, "Content-Length beside Transfer-Encoding.");
            }

            if (head.Version == HttpProtocolVersion.Http10)
            {
                return Reject(head, 400, "Transfer-Encoding in an HTTP/1.0 request.");
            }

            if (head.ErrorStatus != 0)
            {
                return false; // the 501 noted above
            }

            if (!head.Chunked)
            {
                return Reject(head, 400, "chunked must be the last transfer coding.");
            }
        }

        if (head.PathRange.Length == 0 && head.Target.Length == 1 && head.Target[0] == (byte)'*' && head.Method != HttpRequestMethod.Options)
        {
            return Reject(head, 400, "Only OPTIONS takes the target *.");
        }

        head.KeepAlive = !head.ConnectionClose && (head.Version == HttpProtocolVersion.Http11 || head.ConnectionKeepAlive);
        return true;
    }

    private static void Note(HttpRequestHead head, KnownHeader header, int start, int length) =>
        head.KnownValues[(int)header] = new(start, length);

    private static void NoteFirst(HttpRequestHead head, KnownHeader header, int start, int length)
    {
        if (head.KnownValues[(int)header].Start == HttpRequestHead.NoValue)
        {
            Note(head, header, start, length);
        }
    }

    private static bool Reject(HttpRequestHead head, int status, string reason)
    {
        Fail(head, status, reason);
        return false;
    }

    private static HttpParseStatus Fail(HttpRequestHead head, int status, string reason)
    {
        // The first problem found is the one answered, except that a 400 (the framing itself
        // is in doubt) overrides a 501 noted while the head was still being read.
        if (head.ErrorStatus == 0 || (head.ErrorStatus == 501 && status == 400))
        {
            head.ErrorStatus = status;
            head.ErrorReason = reason;
        }

        return HttpParseStatus.Invalid;
    }
}
