using System.Text.Json;

namespace Parley.Chat;

/// <summary>Loads the rooms file and holds the built-in default rooms.</summary>
public static class RoomsFile
{
    /// <summary>
    /// The rooms a server has when no file is given: 24 rooms, as many as rust-chat-server's
    /// default list, so its load profiles (5 of 24 rooms per user, 2 users per room) apply unchanged.
    /// </summary>
    public static IReadOnlyList<RoomDefinition> Defaults { get; } =
    [
        new("general", "Anything goes"),
        new("random", "Off-topic"),
        new("announcements", "News about this server"),
        new("help", "Ask for help"),
        new("dotnet", ".NET and C#"),
        new("rust", "Rust"),
        new("go", "Go"),
        new("python", "Python"),
        new("javascript", "JavaScript and TypeScript"),
        new("networking", "Sockets, protocols, TCP/UDP"),
        new("performance", "Profiling and benchmarks"),
        new("databases", "SQL, storage engines, logs"),
        new("linux", "Linux and operating systems"),
        new("security", "Security and cryptography"),
        new("devops", "Builds, CI, deployment"),
        new("design", "Software design and architecture"),
        new("testing", "Tests and quality"),
        new("games", "Games and game development"),
        new("music", "Music"),
        new("books", "Books"),
        new("movies", "Films and series"),
        new("food", "Cooking and food"),
        new("sports", "Sports"),
        new("travel", "Travel"),
    ];

    /// <summary>
    /// Reads and checks a rooms file: a JSON array of <c>{"name", "description"}</c> objects,
    /// names unique, non-empty, at most <paramref name="maxNameLength"/> characters without spaces.
    /// </summary>
    /// <exception cref="RoomsFileException">The file is missing, not valid JSON or breaks a rule: the message names the file, line and reason.</exception>
    public static IReadOnlyList<RoomDefinition> Load(string path, int maxNameLength = ChatLimits.DefaultMaxNameLength)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new RoomsFileException($"{path}: cannot read the rooms file: {ex.Message}", ex);
        }

        return Parse(bytes, path, maxNameLength);
    }

    /// <summary>Parses rooms-file content; <paramref name="source"/> names it in errors.</summary>
    /// <exception cref="RoomsFileException">See <see cref="Load"/>.</exception>
    public static IReadOnlyList<RoomDefinition> Parse(ReadOnlySpan<byte> json, string source, int maxNameLength = ChatLimits.DefaultMaxNameLength)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        var rooms = new List<RoomDefinition>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray)
            {
                throw Error(source, json, reader, "expected a JSON array of rooms ([{\"name\": …, \"description\": …}, …])");
            }

            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    throw Error(source, json, reader, "each room must be an object with \"name\" and \"description\"");
                }

                long objectStart = reader.TokenStartIndex;
                string? name = null;
                string? description = null;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
                {
                    string property = reader.GetString()!;
                    reader.Read();
                    switch (property)
                    {
                        case "name" when reader.TokenType == JsonTokenType.String:
                            name = reader.GetString();
                            break;
                        case "description" when reader.TokenType == JsonTokenType.String:
                            description = reader.GetString();
                            break;
                        case "name" or "description":
                            throw Error(source, json, reader, $"\"{property}\" must be a string");
                        default:
                            reader.Skip(); // Unknown fields are allowed, for forward compatibility.
                            break;
                    }
                }

                if (name is null)
                {
                    throw Error(source, json, objectStart, "a room has no \"name\"");
                }

                if (ChatLimits.NameProblem(name, maxNameLength) is { } problem)
                {
                    throw Error(source, json, objectStart, $"room name \"{name}\" {problem}");
                }

                if (!names.Add(name))
                {
                    throw Error(source, json, objectStart, $"room \"{name}\" is listed twice");
                }

                if (description?.Length > ChatLimits.MaxDescriptionLength)
                {
                    throw Error(source, json, objectStart, $"the description of room \"{name}\" is longer than {ChatLimits.MaxDescriptionLength} characters");
                }

                rooms.Add(new RoomDefinition(name, description ?? ""));
            }

            if (reader.Read() || reader.BytesConsumed < json.Length && json[(int)reader.BytesConsumed..].Trim(" \t\r\n"u8).Length > 0)
            {
                throw Error(source, json, reader, "unexpected content after the array");
            }
        }
        catch (JsonException ex)
        {
            throw new RoomsFileException($"{source}:{(ex.LineNumber ?? 0) + 1}: not valid JSON: {ex.Message}", ex);
        }

        if (rooms.Count == 0)
        {
            throw new RoomsFileException($"{source}: the rooms file lists no rooms");
        }

        return rooms;
    }

    private static RoomsFileException Error(string source, ReadOnlySpan<byte> json, Utf8JsonReader reader, string reason) =>
        Error(source, json, reader.TokenStartIndex, reason);

    private static RoomsFileException Error(string source, ReadOnlySpan<byte> json, long offset, string reason)
    {
        int line = 1 + json[..(int)Math.Min(offset, json.Length)].Count((byte)'\n');
        return new RoomsFileException($"{source}:{line}: {reason}");
    }
}

/// <summary>A rooms file that cannot be used; the message says which file, which line and why.</summary>
public sealed class RoomsFileException : Exception
{
    /// <summary>Creates the exception.</summary>
    public RoomsFileException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public RoomsFileException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public RoomsFileException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
