using System.Buffers;
using System.Text.Json;

namespace Parley.Chat;

/// <summary>
/// Writes the chat protocol's commands (JSON objects tagged <c>"_ct"</c>) into a buffer, without
/// the line ending (a <see cref="LineFramer"/> connection adds it). Used by
/// <see cref="ChatClient"/>, <c>parley chat</c> and the chat bench.
/// </summary>
/// <remarks>
/// Nothing is allocated per command in steady state: each thread keeps one
/// <see cref="Utf8JsonWriter"/>, pointed at <c>output</c> for the call. Non-ASCII text is
/// written as UTF-8; quotes, backslashes and control characters are escaped. Text that is not
/// valid (half a surrogate pair, bytes that are not UTF-8) is refused with
/// <see cref="ArgumentException"/>; <c>output</c> may then hold part of a command: discard it.
/// Thread-safe: calls on different threads share nothing.
/// </remarks>
public static class ChatCommandWriter
{
    /// <summary><c>{"_ct":"login","u":USER,"p":PASSWORD}</c>.</summary>
    public static void WriteLogin(IBufferWriter<byte> output, string user, string password)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(password);
        Write(output, new ChatCommand(ChatCommandType.Login, User: user, Password: password));
    }

    /// <summary><c>{"_ct":"join_room","r":ROOM}</c>.</summary>
    public static void WriteJoinRoom(IBufferWriter<byte> output, string room) => Write(output, new ChatCommand(ChatCommandType.JoinRoom, Room: NotNull(room)));

    /// <summary><c>{"_ct":"leave_room","r":ROOM}</c>.</summary>
    public static void WriteLeaveRoom(IBufferWriter<byte> output, string room) => Write(output, new ChatCommand(ChatCommandType.LeaveRoom, Room: NotNull(room)));

    /// <summary><c>{"_ct":"send_message","r":ROOM,"c":CONTENT}</c>, and <c>"ref"</c> when <paramref name="reference"/> is given.</summary>
    public static void WriteSendMessage(IBufferWriter<byte> output, string room, string content, long? reference = null) =>
        Write(output, new ChatCommand(ChatCommandType.SendMessage, Room: NotNull(room), Content: NotNull(content), Ref: reference));

    /// <summary>
    /// <c>send_message</c> from UTF-8 text: for a caller that formats its content as bytes (the
    /// bench), nothing is transcoded. Invalid UTF-8 is refused with <see cref="ArgumentException"/>.
    /// </summary>
    public static void WriteSendMessage(IBufferWriter<byte> output, ReadOnlySpan<byte> utf8Room, ReadOnlySpan<byte> utf8Content, long? reference = null)
    {
        if (!System.Text.Unicode.Utf8.IsValid(utf8Room) || !System.Text.Unicode.Utf8.IsValid(utf8Content))
        {
            throw new ArgumentException("The room or content is not valid UTF-8.");
        }

        Utf8JsonWriter w = Begin(output, ChatCommandType.SendMessage);
        bool done = false;
        try
        {
            w.WriteString("r"u8, utf8Room);
            w.WriteString("c"u8, utf8Content);
            if (reference is { } r)
            {
                w.WriteNumber("ref"u8, r);
            }

            w.WriteEndObject();
            done = true;
        }
        finally
        {
            JsonWriterCache.Release(w, done);
        }
    }

    /// <summary><c>{"_ct":"list_rooms"}</c>, with <c>"after"</c> when given.</summary>
    public static void WriteListRooms(IBufferWriter<byte> output, string? after = null) => Write(output, new ChatCommand(ChatCommandType.ListRooms, After: after));

    /// <summary><c>{"_ct":"list_users","r":ROOM}</c>, with <c>"after"</c> when given.</summary>
    public static void WriteListUsers(IBufferWriter<byte> output, string room, string? after = null) =>
        Write(output, new ChatCommand(ChatCommandType.ListUsers, Room: NotNull(room), After: after));

    /// <summary><c>{"_ct":"history","r":ROOM}</c>, with <c>"before"</c> and <c>"limit"</c> when given.</summary>
    public static void WriteHistory(IBufferWriter<byte> output, string room, long? before = null, int? limit = null) =>
        Write(output, new ChatCommand(ChatCommandType.History, Room: NotNull(room), Before: before, Limit: limit));

    /// <summary><c>{"_ct":"ping"}</c>.</summary>
    public static void WritePing(IBufferWriter<byte> output) => Write(output, new ChatCommand(ChatCommandType.Ping));

    /// <summary><c>{"_ct":"quit"}</c>.</summary>
    public static void WriteQuit(IBufferWriter<byte> output) => Write(output, new ChatCommand(ChatCommandType.Quit));

    /// <summary>
    /// Writes any command: the tag, then each field that is not null, in the order
    /// <c>r, c, u, p, before, limit, after, ref</c>. It does not check that the command has the
    /// fields its type needs (a test may want to send one without).
    /// </summary>
    public static void Write(IBufferWriter<byte> output, in ChatCommand command)
    {
        // Checked before anything is written: the server would refuse the whole line as malformed.
        ThrowIfNotUnicode(command.Room, "r");
        ThrowIfNotUnicode(command.Content, "c");
        ThrowIfNotUnicode(command.User, "u");
        ThrowIfNotUnicode(command.Password, "p");
        ThrowIfNotUnicode(command.After, "after");
        Utf8JsonWriter w = Begin(output, command.Type);
        bool done = false;
        try
        {
            WriteIfSet(w, "r"u8, command.Room);
            WriteIfSet(w, "c"u8, command.Content);
            WriteIfSet(w, "u"u8, command.User);
            WriteIfSet(w, "p"u8, command.Password);
            if (command.Before is { } before)
            {
                w.WriteNumber("before"u8, before);
            }

            if (command.Limit is { } limit)
            {
                w.WriteNumber("limit"u8, limit);
            }

            WriteIfSet(w, "after"u8, command.After);
            if (command.Ref is { } reference)
            {
                w.WriteNumber("ref"u8, reference);
            }

            w.WriteEndObject();
            done = true;
        }
        finally
        {
            JsonWriterCache.Release(w, done);
        }
    }

    private static Utf8JsonWriter Begin(IBufferWriter<byte> output, ChatCommandType type)
    {
        string name = ChatProtocol.CommandName(type);
        Utf8JsonWriter w = JsonWriterCache.Rent(output);
        w.WriteStartObject();
        w.WriteString("_ct"u8, name);
        return w;
    }

    private static void WriteIfSet(Utf8JsonWriter w, ReadOnlySpan<byte> name, string? value)
    {
        if (value is not null)
        {
            w.WriteString(name, value);
        }
    }

    /// <summary>Refuses half a surrogate pair: the encoder would write it as an escape the server refuses.</summary>
    private static void ThrowIfNotUnicode(string? text, string field)
    {
        if (text is null)
        {
            return;
        }

        ReadOnlySpan<char> rest = text;
        int at;
        while ((at = rest.IndexOfAnyInRange('\uD800', '\uDFFF')) >= 0)
        {
            if (!char.IsHighSurrogate(rest[at]) || at + 1 >= rest.Length || !char.IsLowSurrogate(rest[at + 1]))
            {
                throw new ArgumentException($"\"{field}\" holds half a surrogate pair: it is not valid Unicode text.", field);
            }

            rest = rest[(at + 2)..];
        }
    }

    private static string NotNull(string value, [System.Runtime.CompilerServices.CallerArgumentExpression(nameof(value))] string? name = null)
    {
        ArgumentNullException.ThrowIfNull(value, name);
        return value;
    }
}
