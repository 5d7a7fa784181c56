using System.Buffers;
using System.Text.Json;

namespace Parley.Chat;

/// <summary>The commands of the protocol (the <c>"_ct"</c> tag).</summary>
internal enum CommandType
{
    Login,
    JoinRoom,
    LeaveRoom,
    SendMessage,
    Quit,
    ListRooms,
    ListUsers,
    History,
    Ping,
}

/// <summary>One parsed command line. Fields a command does not use stay null.</summary>
internal readonly record struct ChatCommand(
    CommandType Type,
    string Tag,
    string? Room = null,
    string? Content = null,
    string? User = null,
    string? Password = null,
    long? Before = null,
    int? Limit = null,
    string? After = null);

/// <summary>A refused command: the protocol's error code and a sentence for people.</summary>
internal readonly record struct CommandError(string Code, string Message, string? Tag = null);

/// <summary>
/// Parses one line of the protocol: a JSON object tagged <c>"_ct"</c>. Unknown fields are
/// ignored (forward compatibility); the tag may come anywhere in the object.
/// </summary>
internal static class CommandParser
{
    public static bool TryParse(in ReadOnlySequence<byte> line, out ChatCommand command, out CommandError error)
    {
        command = default;
        error = default;
        string? tag = null, room = null, content = null, user = null, password = null, after = null;
        long? before = null;
        int? limit = null;
        try
        {
            var reader = new Utf8JsonReader(line, new JsonReaderOptions { MaxDepth = 16 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                error = new CommandError(ErrorCodes.Malformed, "a command is one JSON object per line, for example {\"_ct\":\"join_room\",\"r\":\"general\"}");
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                string name = reader.GetString()!;
                reader.Read();
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
                    default: reader.Skip(); break;
                }
            }

            if (reader.Read())
            {
                throw new JsonException("content after the object");
            }
        }
        catch (JsonException ex)
        {
            error = new CommandError(ErrorCodes.Malformed, $"not valid JSON: {ex.Message}", tag);
            return false;
        }
        catch (InvalidOperationException)
        {
            // Utf8JsonReader checks a string's text only when it is read: invalid UTF-8, or an
            // escape naming half a surrogate pair, surfaces here rather than as a JsonException.
            error = new CommandError(ErrorCodes.Malformed, "a string is not valid UTF-8 text", tag);
            return false;
        }
        catch (InvalidArgument ex)
        {
            error = new CommandError(ErrorCodes.InvalidArgument, ex.Message, tag);
            return false;
        }

        if (tag is null)
        {
            error = new CommandError(ErrorCodes.Malformed, "the command has no \"_ct\" field");
            return false;
        }

        CommandType? type = tag switch
        {
            "login" => CommandType.Login,
            "join_room" => CommandType.JoinRoom,
            "leave_room" => CommandType.LeaveRoom,
            "send_message" => CommandType.SendMessage,
            "quit" => CommandType.Quit,
            "list_rooms" => CommandType.ListRooms,
            "list_users" => CommandType.ListUsers,
            "history" => CommandType.History,
            "ping" => CommandType.Ping,
            _ => null,
        };
        if (type is not { } known)
        {
            error = new CommandError(ErrorCodes.UnknownCommand, $"unknown command \"{Truncate(tag)}\"", Truncate(tag));
            return false;
        }

        string? missing = known switch
        {
            CommandType.Login when user is null => "u",
            CommandType.Login when password is null => "p",
            CommandType.JoinRoom or CommandType.LeaveRoom or CommandType.ListUsers or CommandType.History when room is null => "r",
            CommandType.SendMessage when room is null => "r",
            CommandType.SendMessage when content is null => "c",
            _ => null,
        };
        if (missing is not null)
        {
            error = new CommandError(ErrorCodes.InvalidArgument, $"{tag} needs \"{missing}\"", tag);
            return false;
        }

        command = new ChatCommand(known, tag, room, content, user, password, before, limit, after);
        return true;
    }

    private static string Truncate(string value) => value.Length <= 40 ? value : value[..40] + "…";

    private static string String(ref Utf8JsonReader reader, string name) =>
        reader.TokenType == JsonTokenType.String ? reader.GetString()! : throw new InvalidArgument($"\"{name}\" must be a string");

    private static long Number(ref Utf8JsonReader reader, string name) =>
        reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out long value) ? value : throw new InvalidArgument($"\"{name}\" must be an integer");

    private sealed class InvalidArgument(string message) : Exception(message);
}
