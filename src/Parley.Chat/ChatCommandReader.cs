using System.Buffers;
using System.Text.Json;

namespace Parley.Chat;

/// <summary>
/// Reads one command line of the chat protocol: a JSON object tagged <c>"_ct"</c>. Unknown
/// fields are ignored (forward compatibility); the tag may come anywhere in the object.
/// </summary>
/// <remarks>
/// The server's parser. It reads the line where it lies (it may span buffer segments) and
/// allocates only the strings a command carries. Thread-safe (stateless).
/// </remarks>
public static class ChatCommandReader
{
    /// <summary>
    /// Reads <paramref name="line"/> (one line without its line ending). False when it is not a
    /// command, with <paramref name="error"/> saying why as the server reports it:
    /// <see cref="ErrorCodes.Malformed"/> (not one JSON object, not UTF-8, no <c>"_ct"</c>),
    /// <see cref="ErrorCodes.UnknownCommand"/> or <see cref="ErrorCodes.InvalidArgument"/> (a
    /// field missing or of the wrong type).
    /// </summary>
    public static bool TryRead(in ReadOnlySequence<byte> line, out ChatCommand command, out ChatError error)
    {
        command = default;
        error = default;
        string? tag = null, room = null, content = null, user = null, password = null, after = null;
        long? before = null, reference = null;
        int? limit = null;
        InvalidArgument? invalid = null;
        try
        {
            var reader = new Utf8JsonReader(line, ChatProtocol.ReaderOptions);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                error = new ChatError(ErrorCodes.Malformed, "a command is one JSON object per line, for example {\"_ct\":\"join_room\",\"r\":\"general\"}");
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                string name = reader.GetString()!;
                reader.Read();
                try
                {
                    switch (name)
                    {
                        case "_ct": tag = String(ref reader, name); break;
                        case "r": room = String(ref reader, name); break;
                        case "c": content = String(ref reader, name); break;
                        case "u": user = String(ref reader, name); break;
                        case "p": password = String(ref reader, name); break;
                        case "before": before = Number(ref reader, name); break;
                        case "limit": limit = (int)Math.Clamp(Number(ref reader, name), 0, int.MaxValue); break;
                        case "after": after = String(ref reader, name); break;
                        case "ref": reference = Number(ref reader, name); break;
                        default: reader.Skip(); break;
                    }
                }
                catch (InvalidArgument ex)
                {
                    // Refused, but only once the whole object is read: the error then carries the
                    // command's tag and ref wherever they stand (a ref after the bad field too).
                    invalid ??= ex;
                    if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                    {
                        reader.Skip();
                    }
                }
            }

            if (reader.Read())
            {
                throw new JsonException("content after the object");
            }

            if (invalid is not null)
            {
                throw invalid;
            }
        }
        catch (JsonException ex)
        {
            error = new ChatError(ErrorCodes.Malformed, $"not valid JSON: {ex.Message}", tag, reference);
            return false;
        }
        catch (InvalidOperationException)
        {
            // Utf8JsonReader checks a string's text only when it is read: invalid UTF-8, or an
            // escape naming half a surrogate pair, surfaces here rather than as a JsonException.
            error = new ChatError(ErrorCodes.Malformed, "a string is not valid UTF-8 text", tag, reference);
            return false;
        }
        catch (InvalidArgument ex)
        {
            error = new ChatError(ErrorCodes.InvalidArgument, ex.Message, tag, reference);
            return false;
        }

        if (tag is null)
        {
            error = new ChatError(ErrorCodes.Malformed, "the command has no \"_ct\" field", null, reference);
            return false;
        }

        if (!ChatProtocol.TryParseCommandName(tag, out ChatCommandType known))
        {
            error = new ChatError(ErrorCodes.UnknownCommand, $"unknown command \"{Truncate(tag)}\"", Truncate(tag), reference);
            return false;
        }

        string? missing = known switch
        {
            ChatCommandType.Login when user is null => "u",
            ChatCommandType.Login when password is null => "p",
            ChatCommandType.JoinRoom or ChatCommandType.LeaveRoom or ChatCommandType.ListUsers or ChatCommandType.History when room is null => "r",
            ChatCommandType.SendMessage when room is null => "r",
            ChatCommandType.SendMessage when content is null => "c",
            _ => null,
        };
        if (missing is not null)
        {
            error = new ChatError(ErrorCodes.InvalidArgument, $"{tag} needs \"{missing}\"", tag, reference);
            return false;
        }

        command = new ChatCommand(known, room, content, user, password, before, limit, after, reference);
        return true;
    }

    private static string Truncate(string value) => value.Length <= 40 ? value : value[..40] + "…";

    private static string String(ref Utf8JsonReader reader, string name) =>
        reader.TokenType == JsonTokenType.String ? reader.GetString()! : throw new InvalidArgument($"\"{name}\" must be a string");

    private static long Number(ref Utf8JsonReader reader, string name) =>
        reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out long value) ? value : throw new InvalidArgument($"\"{name}\" must be an integer");

    private sealed class InvalidArgument(string message) : Exception(message);
}
