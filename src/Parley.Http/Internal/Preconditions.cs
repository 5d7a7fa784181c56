using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace Parley.Http;

/// <summary>The request fields that pick what a static response is: validators (RFC 9110
/// §13), a byte range (§14) and a content coding (§12.5.3).</summary>
internal static class Preconditions
{
    /// <summary>If-None-Match over every such field of the request (a list may be split over
    /// several lines).</summary>
    public static bool NoneMatchHits(HttpRequestHead request, ReadOnlySpan<byte> etag)
    {
        for (int i = 0; i < request.HeaderCount; i++)
        {
            if (Ascii.EqualsIgnoreCase(request.GetHeaderName(i), "If-None-Match"u8) && NoneMatchHits(request.GetHeaderValue(i), etag))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>If-Match: <c>*</c> or a listed tag strongly equal to <paramref name="etag"/> (RFC 9110 §13.1.1).</summary>
    public static bool MatchHits(ReadOnlySpan<byte> ifMatch, ReadOnlySpan<byte> etag)
    {
        if (ifMatch.Length == 1 && ifMatch[0] == (byte)'*')
        {
            return true;
        }

        foreach (Range member in new TokenList(ifMatch))
        {
            ReadOnlySpan<byte> tag = ifMatch[member];
            if (!tag.StartsWith("W/"u8) && !etag.StartsWith("W/"u8) && tag.SequenceEqual(etag))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>If-Unmodified-Since: true (the precondition fails) when the date parses and the
    /// resource changed after it.</summary>
    public static bool ModifiedSince(ReadOnlySpan<byte> ifUnmodifiedSince, DateTime lastModifiedUtc) =>
        TryParseDate(ifUnmodifiedSince, out DateTime since) && lastModifiedUtc > since;

    /// <summary>The content coding to send, of those the file has: the one with the highest
    /// weight in Accept-Encoding (every such field), brotli on a tie; 0 identity, 1 br, 2 gzip.</summary>
    public static int ChooseCoding(HttpRequestHead request, bool haveBrotli, bool haveGzip)
    {
        double brotli = haveBrotli ? -1 : -2;
        double gzip = haveGzip ? -1 : -2;
        double star = -1;
        for (int i = 0; i < request.HeaderCount; i++)
        {
            if (!Ascii.EqualsIgnoreCase(request.GetHeaderName(i), "Accept-Encoding"u8))
            {
                continue;
            }

            ReadOnlySpan<byte> value = request.GetHeaderValue(i);
            foreach (Range member in new TokenList(value))
            {
                ReadOnlySpan<byte> item = value[member];
                int semicolon = item.IndexOf((byte)';');
                ReadOnlySpan<byte> name = (semicolon < 0 ? item : item[..semicolon]).TrimEnd((byte)' ');
                double weight = semicolon < 0 ? 1 : Quality(item[(semicolon + 1)..]);
                if (Ascii.EqualsIgnoreCase(name, "br"u8) && brotli > -2)
                {
                    brotli = Math.Max(brotli, weight);
                }
                else if ((Ascii.EqualsIgnoreCase(name, "gzip"u8) || Ascii.EqualsIgnoreCase(name, "x-gzip"u8)) && gzip > -2)
                {
                    gzip = Math.Max(gzip, weight);
                }
                else if (name.Length == 1 && name[0] == (byte)'*')
                {
                    star = Math.Max(star, weight);
                }
            }
        }

        // A coding not named takes the weight of "*" when there is one.
        brotli = brotli == -1 ? star : brotli;
        gzip = gzip == -1 ? star : gzip;
        if (brotli > 0 && brotli >= gzip)
        {
            return 1;
        }

        return gzip > 0 ? 2 : 0;
    }

    private static double Quality(ReadOnlySpan<byte> parameters)
    {
        parameters = parameters.Trim((byte)' ');
        if (parameters.Length < 2 || (parameters[0] | 0x20) != 'q' || parameters[1] != (byte)'=')
        {
            return 1;
        }

        return Utf8Parser.TryParse(parameters[2..], out double q, out int used) && used == parameters.Length - 2 && q is >= 0 and <= 1 ? q : 0;
    }

    /// <summary>If-None-Match against <paramref name="etag"/>, weak comparison: <c>*</c> or any listed tag equal to it, W/ ignored.</summary>
    public static bool NoneMatchHits(ReadOnlySpan<byte> ifNoneMatch, ReadOnlySpan<byte> etag)
    {
        if (ifNoneMatch.Length == 1 && ifNoneMatch[0] == (byte)'*')
        {
            return true;
        }

        ReadOnlySpan<byte> opaque = WithoutWeak(etag);
        foreach (Range member in new TokenList(ifNoneMatch))
        {
            if (WithoutWeak(ifNoneMatch[member]).SequenceEqual(opaque))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>If-Modified-Since: true (not modified) when the date parses and the resource is
    /// not newer. A date that does not parse is ignored, as RFC 9110 says.</summary>
    public static bool NotModifiedSince(ReadOnlySpan<byte> ifModifiedSince, DateTime lastModifiedUtc, DateTime nowUtc) =>
        TryParseDate(ifModifiedSince, out DateTime since) && since <= nowUtc && lastModifiedUtc <= since; // a date in the future is invalid (RFC 9110 §13.1.3)

    /// <summary>If-Range: the range applies only while the validator still matches — an
    /// entity tag strongly, a date exactly.</summary>
    public static bool RangeStillValid(ReadOnlySpan<byte> ifRange, ReadOnlySpan<byte> etag, DateTime lastModifiedUtc)
    {
        if (ifRange.IsEmpty)
        {
            return true;
        }

        if (ifRange[0] == (byte)'"' || ifRange.StartsWith("W/"u8))
        {
            return !ifRange.StartsWith("W/"u8) && !etag.StartsWith("W/"u8) && ifRange.SequenceEqual(etag);
        }

        return TryParseDate(ifRange, out DateTime date) && date == lastModifiedUtc;
    }

    /// <summary>
    /// One <c>bytes=</c> range of a representation of <paramref name="length"/> bytes.
    /// <see cref="RangeResult.Ignore"/> for anything but a single well-formed range (several
    /// ranges are answered whole, as RFC 9110 allows); <see cref="RangeResult.Unsatisfiable"/>
    /// when it starts past the end.
    /// </summary>
    public static RangeResult ParseRange(ReadOnlySpan<byte> range, long length, out long start, out long count)
    {
        start = 0;
        count = 0;
        if (!range.StartsWith("bytes="u8))
        {
            return RangeResult.Ignore;
        }

        ReadOnlySpan<byte> spec = range[6..].Trim((byte)' ');
        int dash = spec.IndexOf((byte)'-');
        if (dash < 0 || spec.IndexOf((byte)',') >= 0)
        {
            return RangeResult.Ignore;
        }

        ReadOnlySpan<byte> first = spec[..dash];
        ReadOnlySpan<byte> last = spec[(dash + 1)..];
        if (first.IsEmpty)
        {
            // suffix: the last N bytes
            if (!TryParseSaturating(last, out long suffix))
            {
                return RangeResult.Ignore;
            }

            if (suffix == 0 || length == 0)
            {
                return RangeResult.Unsatisfiable;
            }

            count = Math.Min(suffix, length);
            start = length - count;
            return RangeResult.Partial;
        }

        if (!TryParseSaturating(first, out start))
        {
            return RangeResult.Ignore;
        }

        long end = length - 1;
        if (!last.IsEmpty)
        {
            if (!TryParseSaturating(last, out long lastByte) || lastByte < start)
            {
                return RangeResult.Ignore;
            }

            end = Math.Min(end, lastByte);
        }

        if (start >= length)
        {
            return RangeResult.Unsatisfiable;
        }

        count = end - start + 1;
        return RangeResult.Partial;
    }

    // 1*DIGIT of any length; past long.MaxValue it stays there (a position past any file).
    private static bool TryParseSaturating(ReadOnlySpan<byte> digits, out long value)
    {
        value = 0;
        if (digits.IsEmpty)
        {
            return false;
        }

        foreach (byte b in digits)
        {
            if (!char.IsAsciiDigit((char)b))
            {
                return false;
            }

            value = value > (long.MaxValue - 9) / 10 ? long.MaxValue : (value * 10) + (b - '0');
        }

        return true;
    }

    private static ReadOnlySpan<byte> WithoutWeak(ReadOnlySpan<byte> tag) => tag.StartsWith("W/"u8) ? tag[2..] : tag;

    private static bool TryParseDate(ReadOnlySpan<byte> value, out DateTime date)
    {
        // IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), the only form a sender may generate.
        if (Utf8Parser.TryParse(value, out DateTime parsed, out int used, 'R') && used == value.Length)
        {
            date = DateTime.SpecifyKind(parsed, DateTimeKind.Utc);
            return true;
        }

        // The two obsolete forms a recipient must still accept (RFC 9110 §5.6.7): rare, so a string.
        if (value.Length is > 20 and < 40)
        {
            string text = Encoding.ASCII.GetString(value);
            if (DateTime.TryParseExact(text, s_obsoleteFormats, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal | DateTimeStyles.AllowInnerWhite, out parsed))
            {
                date = DateTime.SpecifyKind(parsed, DateTimeKind.Utc);
                return true;
            }
        }

        date = default;
        return false;
    }

    private static readonly string[] s_obsoleteFormats = ["dddd, dd-MMM-yy HH:mm:ss 'GMT'", "ddd MMM d HH:mm:ss yyyy", "ddd MMM dd HH:mm:ss yyyy"];
}

/// <summary>What a Range header asks for.</summary>
internal enum RangeResult
{
    Ignore,
    Partial,
    Unsatisfiable,
}
