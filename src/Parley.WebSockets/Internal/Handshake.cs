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
    /// the server's own (the origin's host and port are the request's <c>Host</c>), or one listed.
    /// </summary>
    public static bool IsOriginAllowed(ReadOnlySpan<byte> origin, ReadOnlySpan<byte> host, IList<string> allowed, bool hasOrigin)
    {
        if (!hasOrigin)
        {
            return true;
        }

        ReadOnlySpan<byte> trimmed = origin.Trim(" \t"u8);
        int scheme = trimmed.IndexOf("://"u8);
        if (scheme > 0 && !host.IsEmpty && Ascii.EqualsIgnoreCase(trimmed[(scheme + 3)..], host))
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
}
