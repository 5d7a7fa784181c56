using System.Buffers;
using System.Text.Unicode;

namespace Parley.Http;

/// <summary>
/// Turns a request path into the one form handlers see: percent-decoded once, UTF-8, dot and
/// empty segments gone. Refuses outright (400) what could address something outside the
/// served tree or be read two ways: <c>..</c> segments (however encoded), encoded <c>/</c> and
/// <c>\</c>, a backslash, NUL, and bytes that are not UTF-8.
/// </summary>
internal static class PathDecoder
{
    public static bool TryDecode(ReadOnlySpan<byte> raw, Span<char> destination, out int length, out string? reason)
    {
        length = 0;
        reason = null;
        if (raw.Length > destination.Length)
        {
            reason = "The path is too long.";
            return false;
        }

        byte[] rented = ArrayPool<byte>.Shared.Rent(Math.Max(raw.Length, 1) + 1);
        try
        {
            Span<byte> bytes = rented;
            int n = 0;
            for (int i = 0; i < raw.Length; i++)
            {
                byte b = raw[i];
                if (b == (byte)'%')
                {
                    if (i + 2 >= raw.Length || !TryHex(raw[i + 1], out int high) || !TryHex(raw[i + 2], out int low))
                    {
                        reason = "Bad percent-encoding in the path.";
                        return false;
                    }

                    b = (byte)((high << 4) | low);
                    i += 2;
                    if (b is (byte)'/' or (byte)'\\')
                    {
                        reason = "An encoded slash in the path.";
                        return false;
                    }
                }

                if (b is 0 or (byte)'\\')
                {
                    reason = "A NUL or backslash in the path.";
                    return false;
                }

                bytes[n++] = b;
            }

            return TryNormalize(bytes[..n], destination, out length, out reason);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    // Segments: skip empty and ".", refuse "..", keep the rest; a trailing slash stays.
    private static bool TryNormalize(ReadOnlySpan<byte> path, Span<char> destination, out int length, out string? reason)
    {
        length = 0;
        reason = null;
        int written = 0;
        int position = 0;
        bool endsWithSlash = path.IsEmpty || path[^1] == (byte)'/';
        while (position < path.Length)
        {
            int slash = path[position..].IndexOf((byte)'/');
            int end = slash < 0 ? path.Length : position + slash;
            ReadOnlySpan<byte> segment = path[position..end];
            position = end + 1;
            if (segment.IsEmpty || segment.SequenceEqual("."u8))
            {
                continue;
            }

            if (segment.SequenceEqual(".."u8))
            {
                reason = "A '..' segment in the path.";
                return false;
            }

            destination[written++] = '/';
            OperationStatus status = Utf8.ToUtf16(segment, destination[written..], out _, out int chars, replaceInvalidSequences: false);
            if (status != OperationStatus.Done)
            {
                reason = status == OperationStatus.DestinationTooSmall ? "The path is too long." : "The path is not UTF-8.";
                return false;
            }

            written += chars;
        }

        if (written == 0 || endsWithSlash)
        {
            destination[written++] = '/';
        }

        length = written;
        return true;
    }

    private static bool TryHex(byte c, out int value)
    {
        value = c switch
        {
            >= (byte)'0' and <= (byte)'9' => c - '0',
            >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
            >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
            _ => -1,
        };
        return value >= 0;
    }
}
