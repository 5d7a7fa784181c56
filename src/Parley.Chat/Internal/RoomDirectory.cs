using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace Parley.Chat;

/// <summary>
/// The server's rooms by name, found from a string or from the UTF-8 bytes of a command or a
/// journal record without making a string. Immutable, so thread-safe.
/// </summary>
internal sealed class RoomDirectory
{
    // Room names are at most 255 UTF-8 bytes: never more characters than that.
    private const int MaxNameChars = 255;

    private readonly FrozenDictionary<string, Room> _byName;
    private readonly FrozenDictionary<string, Room>.AlternateLookup<ReadOnlySpan<char>> _byChars;

    public RoomDirectory(IEnumerable<Room> rooms)
    {
        _byName = rooms.ToFrozenDictionary(r => r.Name, StringComparer.Ordinal);
        _byChars = _byName.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public bool TryFind(string name, [NotNullWhen(true)] out Room? room) => _byName.TryGetValue(name, out room);

    /// <summary>Finds a room by its name's UTF-8 bytes (valid UTF-8: a command's checked string or a record's name).</summary>
    public bool TryFind(ReadOnlySpan<byte> utf8, [NotNullWhen(true)] out Room? room)
    {
        room = null;
        Span<char> chars = stackalloc char[MaxNameChars];
        return utf8.Length <= MaxNameChars
            && Encoding.UTF8.TryGetChars(utf8, chars, out int length)
            && _byChars.TryGetValue(chars[..length], out room);
    }
}
