using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Parley.WebSockets.Internal;

/// <summary>The opening handshake's arithmetic (RFC 6455, section 4).</summary>
internal static class Handshake
{
    private static ReadOnlySpan<byte> Guid => "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"u8;

    /// <summary>True when <paramref name="key"/> is the base64 of 16 bytes (24 characters).</summary>
    public static bool IsValidKey(ReadOnlySpan<byte> key)
    {
        if (key.Length != 24)
        {
            return false;
        }

        Span<byte> decoded = stackalloc byte[18];
        return Base64.DecodeFromUtf8(key, decoded, out _, out int written) == System.Buffers.OperationStatus.Done && written == 16;
    }

    /// <summary>Writes <c>base64(SHA-1(key + GUID))</c> (28 bytes) into <paramref name="destination"/>.</summary>
    public static int ComputeAccept(ReadOnlySpan<byte> key, Span<byte> destination)
    {
        Span<byte> joined = stackalloc byte[key.Length + Guid.Length];
        key.CopyTo(joined);
        Guid.CopyTo(joined[key.Length..]);
        Span<byte> hash = stackalloc byte[20];
#pragma warning disable CA5350 // RFC 6455 fixes SHA-1 here; it proves the server read the key, it protects nothing.
        SHA1.HashData(joined, hash);
#pragma warning restore CA5350
        Base64.EncodeToUtf8(hash, destination, out _, out int written);
        return written;
    }

    /// <summary>A fresh client key: base64 of 16 random bytes.</summary>
    public static string NewKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));

    /// <summary>Whether a comma-separated header value holds <paramref name="token"/> (case-insensitive).</summary>
    public static bool HasToken(ReadOnlySpan<byte> value, ReadOnlySpan<byte> token)
    {
        foreach (Range part in value.Split((byte)','))
        {
            if (Ascii.EqualsIgnoreCase(value[part].Trim(" \t"u8), token))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Whether a browser page from <paramref name="origin"/> may connect: no origin (not a browser),
    /// one listed, or the server's own when the server is addressed by an IP address or as
    /// <c>localhost</c> (the origin is <c>http(s)://</c> the request's <c>Host</c>). A page reached
    /// through any other name must be listed: a name is what DNS rebinding forges (an attacker's
    /// name pointed at this server makes its page "same origin" by <c>Host</c> alone).
    /// </summary>
    public static bool IsOriginAllowed(ReadOnlySpan<byte> origin, ReadOnlySpan<byte> host, IList<string> allowed, bool hasOrigin)
    {
        if (!hasOrigin)
        {
            return true;
        }

        ReadOnlySpan<byte> trimmed = origin.Trim(" \t"u8);
        ReadOnlySpan<byte> authority = trimmed.StartsWith("http://"u8) ? trimmed[7..] : trimmed.StartsWith("https://"u8) ? trimmed[8..] : [];
        if (!authority.IsEmpty && !host.IsEmpty && Ascii.EqualsIgnoreCase(authority, host) && IsAddressOrLocalhost(host))
        {
            return true;
        }

        foreach (string entry in allowed)
        {
            if (entry == "*")
            {
                return true;
            }

            if (Encoding.UTF8.GetByteCount(entry) == trimmed.Length && Ascii.EqualsIgnoreCase(trimmed, Encoding.UTF8.GetBytes(entry)))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A <c>Host</c> that is an IP address (v4, or v6 in brackets) or <c>localhost</c>, with or without a port.</summary>
    public static bool IsAddressOrLocalhost(ReadOnlySpan<byte> host)
    {
        ReadOnlySpan<byte> name = host;
        if (name.StartsWith("["u8))
        {
            int close = name.IndexOf((byte)']');
            return close > 1 && System.Net.IPAddress.TryParse(Encoding.ASCII.GetString(name[1..close]), out System.Net.IPAddress? v6)
                && v6.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
                && (close == name.Length - 1 || name[close + 1] == (byte)':');
        }

        int colon = name.IndexOf((byte)':');
        if (colon >= 0)
        {
            name = name[..colon];
        }

        return Ascii.EqualsIgnoreCase(name, "localhost"u8)
            || (System.Net.IPAddress.TryParse(Encoding.ASCII.GetString(name), out System.Net.IPAddress? v4) && v4.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork);
    }
}
