namespace Parley.Chat;

/// <summary>
/// What <see cref="ChatEventReader.TryReadHeader"/> reads from an event without allocating. The
/// spans point into the line: use them before the line's buffer is reused.
/// </summary>
/// <remarks>
/// <see cref="Room"/> and <see cref="Content"/> are the JSON string values as they are on the
/// wire, escapes not decoded: exact for text that needs no escaping (a bench's own ASCII
/// payload); decode them with <see cref="ChatEventReader.TryRead"/> otherwise.
/// </remarks>
public readonly ref struct ChatEventHeader
{
    /// <summary>Creates a header.</summary>
    public ChatEventHeader(ChatEventType type, ReadOnlySpan<byte> room, ReadOnlySpan<byte> content, long id)
    {
        Type = type;
        Room = room;
        Content = content;
        Id = id;
    }

    /// <summary>The event's type; <see cref="ChatEventType.Unknown"/> for a tag this version does not know.</summary>
    public ChatEventType Type { get; }

    /// <summary>The top-level <c>r</c>, raw; empty when there is none.</summary>
    public ReadOnlySpan<byte> Room { get; }

    /// <summary>The top-level <c>c</c>, raw; empty when there is none.</summary>
    public ReadOnlySpan<byte> Content { get; }

    /// <summary>The top-level <c>id</c>; 0 when there is none.</summary>
    public long Id { get; }
}
