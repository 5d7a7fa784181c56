using System.Text;

namespace Parley.Chat;

/// <summary>
/// A chat message as a journal record's payload (docs/wire-formats.md, "Chat journal record"):
/// <c>u8 version (1) · u8 room length · room (UTF-8) · u8 user length · user (UTF-8) · content (UTF-8, the rest)</c>.
/// </summary>
public static class ChatRecord
{
    private const byte Version = 1;

    /// <summary>The largest encoding of a message with <paramref name="contentBytes"/> bytes of content.</summary>
    public static int MaxLength(int contentBytes) => 3 + 255 + 255 + contentBytes;

    /// <summary>Encodes a message; returns the bytes written. Names must be at most 255 UTF-8 bytes.</summary>
    public static int Write(Span<byte> destination, string room, string user, string content)
    {
        destination[0] = Version;
        int offset = 1;
        offset += WriteName(destination[offset..], room);
        offset += WriteName(destination[offset..], user);
        offset += Encoding.UTF8.GetBytes(content, destination[offset..]);
        return offset;
    }

    /// <summary>Decodes a record's payload; false when it is not a chat message of a known version.</summary>
    public static bool TryRead(ReadOnlySpan<byte> payload, out string room, out string user, out string content)
    {
        room = user = content = "";
        if (payload.Length < 3 || payload[0] != Version)
        {
            return false;
        }

        int offset = 1;
        if (!TryReadName(payload, ref offset, out room) || !TryReadName(payload, ref offset, out user))
        {
            return false;
        }

        content = Encoding.UTF8.GetString(payload[offset..]);
        return true;
    }

    /// <summary>The most bytes the version and the two names take before the content.</summary>
    internal const int MaxHeaderLength = 3 + 255 + 255;

    /// <summary>
    /// Writes the version and the names so that they end exactly at <paramref name="contentOffset"/>
    /// of <paramref name="buffer"/>, where the content already is; returns where the record starts.
    /// Names must be at most 255 bytes and <paramref name="contentOffset"/> at least <see cref="MaxHeaderLength"/>.
    /// </summary>
    internal static int WriteHeaderBefore(Span<byte> buffer, int contentOffset, ReadOnlySpan<byte> room, ReadOnlySpan<byte> user)
    {
        int start = contentOffset - 3 - room.Length - user.Length;
        Span<byte> header = buffer[start..contentOffset];
        header[0] = Version;
        header[1] = checked((byte)room.Length);
        room.CopyTo(header[2..]);
        header[2 + room.Length] = checked((byte)user.Length);
        user.CopyTo(header[(3 + room.Length)..]);
        return start;
    }

    /// <summary>Splits a record's payload without decoding it; false when it is not a chat message of a known version.</summary>
    internal static bool TryRead(ReadOnlySpan<byte> payload, out ReadOnlySpan<byte> room, out ReadOnlySpan<byte> user, out ReadOnlySpan<byte> content)
    {
        room = user = content = default;
        if (payload.Length < 3 || payload[0] != Version)
        {
            return false;
        }

        int offset = 1;
        if (!TrySlice(payload, ref offset, out room) || !TrySlice(payload, ref offset, out user))
        {
            return false;
        }

        content = payload[offset..];
        return true;
    }

    private static bool TrySlice(ReadOnlySpan<byte> payload, scoped ref int offset, out ReadOnlySpan<byte> name)
    {
        name = default;
        if (offset >= payload.Length)
        {
            return false;
        }

        int length = payload[offset];
        if (payload.Length < offset + 1 + length)
        {
            return false;
        }

        name = payload.Slice(offset + 1, length);
        offset += 1 + length;
        return true;
    }

    private static int WriteName(Span<byte> destination, string name)
    {
        int length = Encoding.UTF8.GetBytes(name, destination[1..]);
        destination[0] = checked((byte)length);
        return 1 + length;
    }

    private static bool TryReadName(ReadOnlySpan<byte> payload, ref int offset, out string name)
    {
        name = "";
        int length = payload[offset];
        if (payload.Length < offset + 1 + length)
        {
            return false;
        }

        name = Encoding.UTF8.GetString(payload.Slice(offset + 1, length));
        offset += 1 + length;
        return offset <= payload.Length;
    }
}
