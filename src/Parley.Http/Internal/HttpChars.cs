using System.Buffers;
using System.Text;

namespace Parley.Http;

/// <summary>The character classes of RFC 9110/9112 and small parses over them.</summary>
internal static class HttpChars
{
    // tchar: "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
    private static readonly SearchValues<byte> s_tokenChars = SearchValues.Create(
        "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);

    // Control bytes a request target or field value may not hold (HTAB allowed in values only).
    private static readonly SearchValues<byte> s_targetForbidden = SearchValues.Create(Controls(includeSpace: true, includeTab: true));
    private static readonly SearchValues<byte> s_valueForbidden = SearchValues.Create(Controls(includeSpace: false, includeTab: false));

    public static bool IsToken(ReadOnlySpan<byte> value) => !value.IsEmpty && !value.ContainsAnyExcept(s_tokenChars);

    /// <summary>Visible ASCII and bytes above 0x7F (raw UTF-8, as nginx accepts); no space, no control byte.</summary>
    public static bool IsTargetText(ReadOnlySpan<byte> value) => !value.ContainsAny(s_targetForbidden);

    /// <summary>field-value: visible ASCII, SP, HTAB, obs-text; no other control byte (no NUL, no bare CR).</summary>
    public static bool IsFieldValue(ReadOnlySpan<byte> value) => !value.ContainsAny(s_valueForbidden);

    public static HttpRequestMethod ParseMethod(ReadOnlySpan<byte> method) => method.Length switch
    {
        3 when method.SequenceEqual("GET"u8) => HttpRequestMethod.Get,
        3 when method.SequenceEqual("PUT"u8) => HttpRequestMethod.Put,
        4 when method.SequenceEqual("HEAD"u8) => HttpRequestMethod.Head,
        4 when method.SequenceEqual("POST"u8) => HttpRequestMethod.Post,
        5 when method.SequenceEqual("PATCH"u8) => HttpRequestMethod.Patch,
        5 when method.SequenceEqual("TRACE"u8) => HttpRequestMethod.Trace,
        6 when method.SequenceEqual("DELETE"u8) => HttpRequestMethod.Delete,
        7 when method.SequenceEqual("OPTIONS"u8) => HttpRequestMethod.Options,
        7 when method.SequenceEqual("CONNECT"u8) => HttpRequestMethod.Connect,
        _ => HttpRequestMethod.Other, // methods are case-sensitive: "get" is some other method
    };

    /// <summary>An absolute-form target's "http://" or "https://" (any case): where the authority starts.</summary>
    public static bool TrySkipScheme(ReadOnlySpan<byte> target, out int authorityStart)
    {
        if (target.Length > 7 && Ascii.EqualsIgnoreCase(target[..7], "http://"u8))
        {
            authorityStart = 7;
            return true;
        }

        if (target.Length > 8 && Ascii.EqualsIgnoreCase(target[..8], "https://"u8))
        {
            authorityStart = 8;
            return true;
        }

        authorityStart = 0;
        return false;
    }

    /// <summary>1*DIGIT, at most 18 of them (no sign, no space, no list).</summary>
    public static bool TryParseLength(ReadOnlySpan<byte> value, out long length)
    {
        length = 0;
        if (value.IsEmpty || value.Length > 18)
        {
            return false;
        }

        foreach (byte b in value)
        {
            if (!char.IsAsciiDigit((char)b))
            {
                return false;
            }

            length = (length * 10) + (b - '0');
        }

        return true;
    }

    private static byte[] Controls(bool includeSpace, bool includeTab)
    {
        var bytes = new List<byte>();
        for (int b = 0; b < 0x20; b++)
        {
            if (b != '\t' || includeTab)
            {
                bytes.Add((byte)b);
            }
        }

        if (includeSpace)
        {
            bytes.Add((byte)' ');
        }

        bytes.Add(0x7F);
        return [.. bytes];
    }
}

/// <summary>The members of a comma-separated list (<c>#token</c>), trimmed, empty ones skipped.</summary>
internal ref struct TokenList
{
    private readonly ReadOnlySpan<byte> _value;
    private int _next;

    public TokenList(ReadOnlySpan<byte> value)
    {
        _value = value;
        _next = 0;
        Current = default;
    }

    public Range Current { get; private set; }

    public readonly TokenList GetEnumerator() => this;

    public bool MoveNext()
    {
        while (_next <= _value.Length)
        {
            int comma = _value[_next..].IndexOf((byte)',');
            int end = comma < 0 ? _value.Length : _next + comma;
            int start = _next;
            _next = end + 1;
            while (start < end && _value[start] is (byte)' ' or (byte)'\t')
            {
                start++;
            }

            int stop = end;
            while (stop > start && _value[stop - 1] is (byte)' ' or (byte)'\t')
            {
                stop--;
            }

            if (stop > start)
            {
                Current = start..stop;
                return true;
            }
        }

        return false;
    }
}
