using System.Buffers.Text;

namespace Parley.Http;

/// <summary>The request fields that pick what a static response is: validators (RFC 9110
/// §13), a byte range (§14) and a content coding (§12.5.3).</summary>
internal static class Preconditions
{
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
    public static bool NotModifiedSince(ReadOnlySpan<byte> ifModifiedSince, DateTime lastModifiedUtc) =>
        TryParseDate(ifModifiedSince, out DateTime since) && lastModifiedUtc <= since;

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
            if (!HttpChars.TryParseLength(last, out long suffix))
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

        if (!HttpChars.TryParseLength(first, out start))
        {
            return RangeResult.Ignore;
        }

        long end = length - 1;
        if (!last.IsEmpty)
        {
            if (!HttpChars.TryParseLength(last, out long lastByte) || lastByte < start)
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

    /// <summary>Whether Accept-Encoding accepts <paramref name="coding"/> (q above 0), by name or by <c>*</c>.</summary>
    public static bool Accepts(ReadOnlySpan<byte> acceptEncoding, ReadOnlySpan<byte> coding)
    {
        bool? star = null;
        foreach (Range member in new TokenList(acceptEncoding))
        {
            ReadOnlySpan<byte> item = acceptEncoding[member];
            int semicolon = item.IndexOf((byte)';');
            ReadOnlySpan<byte> name = (semicolon < 0 ? item : item[..semicolon]).TrimEnd((byte)' ');
            bool allowed = semicolon < 0 || !IsZeroQuality(item[(semicolon + 1)..]);
            if (System.Text.Ascii.EqualsIgnoreCase(name, coding))
            {
                return allowed;
            }

            if (name.Length == 1 && name[0] == (byte)'*')
            {
                star = allowed;
            }
        }

        return star ?? false;
    }

    private static bool IsZeroQuality(ReadOnlySpan<byte> parameters)
    {
        parameters = parameters.Trim((byte)' ');
        if (parameters.Length < 2 || (parameters[0] | 0x20) != 'q' || parameters[1] != (byte)'=')
        {
            return false;
        }

        ReadOnlySpan<byte> value = parameters[2..];
        return Utf8Parser.TryParse(value, out decimal q, out _) && q == 0;
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

        date = default;
        return false;
    }
}

/// <summary>What a Range header asks for.</summary>
internal enum RangeResult
{
    Ignore,
    Partial,
    Unsatisfiable,
}
