using System.Buffers;
using System.Text.Json;

namespace Parley.Chat;

/// <summary>
/// The server's fast path for its most frequent command: reads a <c>send_message</c> line without
/// allocating — the room looked up by its bytes, the content unescaped straight into the buffer
/// the journal record is built in — and leaves everything else to <see cref="ChatCommandReader"/>.
/// </summary>
/// <remarks>
/// It accepts only what <see cref="ChatCommandReader"/> would accept as the same command: any
/// doubt (another command, a repeated or mistyped field, bad JSON or UTF-8, an unknown room, a
/// name longer than a room name can be) returns false and the general reader reads the line
/// again and says what is wrong. Thread-safe (stateless).
/// </remarks>
internal static class SendMessageReader
{
    // Room names are at most 255 UTF-8 bytes (a journal record's limit); their escaped form at most six bytes a byte.
    private const int MaxRoomBytes = 255;
    private const int MaxEscapedRoomBytes = MaxRoomBytes * 6;

    /// <summary>
    /// Reads <paramref name="line"/> as a <c>send_message</c>: on success the room, the content's
    /// length (unescaped UTF-8 at <paramref name="contentOffset"/> of <paramref name="buffer"/>, which
    /// must hold <paramref name="contentOffset"/> + the line's length) and the <c>ref</c>.
    /// </summary>
    public static bool TryRead(in ReadOnlySequence<byte> line, RoomDirectory rooms, byte[] buffer, int contentOffset, out Room? room, out int contentLength, out long? reference)
    {
        room = null;
        contentLength = -1;
        reference = null;
        bool tagged = false;
        try
        {
            var reader = new Utf8JsonReader(line, ChatProtocol.ReaderOptions);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("_ct"u8))
                {
                    if (tagged || !reader.Read() || reader.TokenType != JsonTokenType.String || !reader.ValueTextEquals("send_message"u8))
                    {
                        return false;
                    }

                    tagged = true;
                }
                else if (reader.ValueTextEquals("r"u8))
                {
                    if (room is not null || !reader.Read() || !TryFindRoom(ref reader, rooms, out room))
                    {
                        return false;
                    }
                }
                else if (reader.ValueTextEquals("c"u8))
                {
                    if (contentLength >= 0 || !reader.Read() || reader.TokenType != JsonTokenType.String)
                    {
                        return false;
                    }

                    contentLength = reader.CopyString(buffer.AsSpan(contentOffset)); // unescapes and checks the UTF-8
                }
                else if (reader.ValueTextEquals("ref"u8))
                {
                    if (reference is not null || !reader.Read() || reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out long value))
                    {
                        return false;
                    }

                    reference = value;
                }
                else
                {
                    // Ignored, as by the general reader (forward compatibility); it reads the names it knows in any case,
                    // and decodes every name, refusing one that is not UTF-8: so must this.
                    if (IsKnownField(ref reader) || !IsValidName(ref reader) || !reader.Read())
                    {
                        return false;
                    }

                    reader.Skip();
                }
            }

            if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
            {
                return false;
            }
        }
        catch (JsonException)
        {
            return false; // the general reader reports it
        }
        catch (InvalidOperationException)
        {
            return false; // invalid UTF-8 in a string: the general reader reports it
        }

        return tagged && room is not null && contentLength >= 0;
    }

    private static bool TryFindRoom(ref Utf8JsonReader reader, RoomDirectory rooms, out Room? room)
    {
        room = null;
        if (reader.TokenType != JsonTokenType.String)
        {
            return false;
        }

        long escaped = reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;
        if (escaped > MaxEscapedRoomBytes)
        {
            return false;
        }

        Span<byte> name = stackalloc byte[MaxEscapedRoomBytes];
        int length = reader.CopyString(name);
        return length <= MaxRoomBytes && rooms.TryFind(name[..length], out room);
    }

    // The general reader decodes every property name (GetString), which throws for invalid UTF-8
    // or an escaped half surrogate pair: CopyString checks the same. A name longer than the stack
    // buffer is left to the general reader.
    private static bool IsValidName(ref Utf8JsonReader reader)
    {
        if (!reader.HasValueSequence && !reader.ValueIsEscaped)
        {
            return System.Text.Unicode.Utf8.IsValid(reader.ValueSpan);
        }

        long escaped = reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;
        if (escaped > MaxEscapedRoomBytes)
        {
            return false;
        }

        Span<byte> name = stackalloc byte[MaxEscapedRoomBytes];
        reader.CopyString(name); // throws InvalidOperationException when the name is not valid text
        return true;
    }

    // Fields the general reader gives a meaning (and a type check) to: a send_message carrying one
    // of them with the wrong type is refused there, so it must not pass here.
    private static bool IsKnownField(ref Utf8JsonReader reader) =>
        reader.ValueTextEquals("u"u8) || reader.ValueTextEquals("p"u8) || reader.ValueTextEquals("before"u8)
        || reader.ValueTextEquals("limit"u8) || reader.ValueTextEquals("after"u8);
}
