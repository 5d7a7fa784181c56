using System.Text.Encodings.Web;
using System.Text.Json;

namespace Parley.Chat;

/// <summary>
/// The chat protocol's shared facts: newline-delimited JSON objects, commands tagged
/// <c>"_ct"</c>, events tagged <c>"_et"</c> (docs/wire-formats.md, "Chat protocol"). The codec
/// that reads and writes them is <see cref="ChatCommandWriter"/> / <see cref="ChatCommandReader"/>
/// (client to server) and <see cref="ChatEventWriter"/> / <see cref="ChatEventReader"/> (server
/// to client); the server, <see cref="ChatClient"/>, <c>parley chat</c> and the chat bench all
/// use them.
/// </summary>
/// <remarks>
/// The codec encodes and decodes one line's JSON object, without its line ending: a connection
/// framed by <see cref="LineFramer"/> adds and removes that.
/// </remarks>
public static class ChatProtocol
{
    /// <summary>The longest event a <see cref="ChatClient"/> accepts by default: 1 MiB. A server
    /// sends at most its <see cref="ChatServerOptions.MaxEventBytes"/> (256 KiB by default, raised
    /// with its message limit); a client holds at most this much of one line in memory.</summary>
    public const int DefaultMaxEventBytes = 1024 * 1024;

    /// <summary>The longest command a client writes by default: 64 KiB, more than a server with
    /// the default limits accepts (its <see cref="ChatServerOptions.MaxCommandBytes"/>, 28 KiB).</summary>
    public const int DefaultMaxCommandBytes = 64 * 1024;

    /// <summary>The deepest nesting the readers accept: an event's deepest value is at depth 3.</summary>
    internal const int MaxDepth = 16;

    /// <summary>Non-ASCII text stays readable (UTF-8) for people on <c>nc</c>; quotes, backslashes
    /// and control characters are still escaped. Validation is skipped: the codec writes whole
    /// objects by construction.</summary>
    internal static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true };

    internal static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = MaxDepth };

    /// <summary>The framer of a client connection: events up to <paramref name="maxEventBytes"/>
    /// in, commands up to <paramref name="maxCommandBytes"/> out.</summary>
    public static LineFramer CreateClientFramer(int maxEventBytes = DefaultMaxEventBytes, int maxCommandBytes = DefaultMaxCommandBytes) =>
        new(maxEventBytes, maxCommandBytes);

    /// <summary>The <c>"_ct"</c> tag of <paramref name="type"/>: <c>join_room</c>, <c>send_message</c>, …</summary>
    public static string CommandName(ChatCommandType type) => type switch
    {
        ChatCommandType.Login => "login",
        ChatCommandType.JoinRoom => "join_room",
        ChatCommandType.LeaveRoom => "leave_room",
        ChatCommandType.SendMessage => "send_message",
        ChatCommandType.Quit => "quit",
        ChatCommandType.ListRooms => "list_rooms",
        ChatCommandType.ListUsers => "list_users",
        ChatCommandType.History => "history",
        ChatCommandType.Ping => "ping",
        ChatCommandType.WatchMetrics => "watch_metrics",
        ChatCommandType.UnwatchMetrics => "unwatch_metrics",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "not a command"),
    };

    /// <summary>The command a <c>"_ct"</c> tag names; false for a tag the protocol does not define.</summary>
    public static bool TryParseCommandName(ReadOnlySpan<char> name, out ChatCommandType type)
    {
        ChatCommandType? found = name switch
        {
            "login" => ChatCommandType.Login,
            "join_room" => ChatCommandType.JoinRoom,
            "leave_room" => ChatCommandType.LeaveRoom,
            "send_message" => ChatCommandType.SendMessage,
            "quit" => ChatCommandType.Quit,
            "list_rooms" => ChatCommandType.ListRooms,
            "list_users" => ChatCommandType.ListUsers,
            "history" => ChatCommandType.History,
            "ping" => ChatCommandType.Ping,
            "watch_metrics" => ChatCommandType.WatchMetrics,
            "unwatch_metrics" => ChatCommandType.UnwatchMetrics,
            _ => null,
        };
        type = found.GetValueOrDefault();
        return found.HasValue;
    }

    /// <summary>The <c>"_et"</c> tag of <paramref name="type"/>: <c>user_message</c>, <c>message_ack</c>, …</summary>
    public static string EventName(ChatEventType type) => type switch
    {
        ChatEventType.LoginSuccessful => "login_successful",
        ChatEventType.UserJoinedRoom => "user_joined_room",
        ChatEventType.RoomParticipation => "room_participation",
        ChatEventType.UserMessage => "user_message",
        ChatEventType.MessageAck => "message_ack",
        ChatEventType.Rooms => "rooms",
        ChatEventType.RoomUsers => "room_users",
        ChatEventType.History => "history",
        ChatEventType.Pong => "pong",
        ChatEventType.Error => "error",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "not an event the protocol defines"),
    };

    /// <summary>The event an <c>"_et"</c> tag names; <see cref="ChatEventType.Unknown"/> for any other.</summary>
    public static ChatEventType ParseEventName(string name) => name switch
    {
        "user_message" => ChatEventType.UserMessage,
        "message_ack" => ChatEventType.MessageAck,
        "room_participation" => ChatEventType.RoomParticipation,
        "user_joined_room" => ChatEventType.UserJoinedRoom,
        "login_successful" => ChatEventType.LoginSuccessful,
        "rooms" => ChatEventType.Rooms,
        "room_users" => ChatEventType.RoomUsers,
        "history" => ChatEventType.History,
        "pong" => ChatEventType.Pong,
        "error" => ChatEventType.Error,
        _ => ChatEventType.Unknown,
    };

    /// <summary>The event an <c>"_et"</c> tag names (its UTF-8 bytes, unescaped); <see cref="ChatEventType.Unknown"/> for any other.</summary>
    public static ChatEventType ParseEventName(ReadOnlySpan<byte> utf8Name) => utf8Name switch
    {
        _ when utf8Name.SequenceEqual("user_message"u8) => ChatEventType.UserMessage,
        _ when utf8Name.SequenceEqual("message_ack"u8) => ChatEventType.MessageAck,
        _ when utf8Name.SequenceEqual("room_participation"u8) => ChatEventType.RoomParticipation,
        _ when utf8Name.SequenceEqual("user_joined_room"u8) => ChatEventType.UserJoinedRoom,
        _ when utf8Name.SequenceEqual("login_successful"u8) => ChatEventType.LoginSuccessful,
        _ when utf8Name.SequenceEqual("rooms"u8) => ChatEventType.Rooms,
        _ when utf8Name.SequenceEqual("room_users"u8) => ChatEventType.RoomUsers,
        _ when utf8Name.SequenceEqual("history"u8) => ChatEventType.History,
        _ when utf8Name.SequenceEqual("pong"u8) => ChatEventType.Pong,
        _ when utf8Name.SequenceEqual("error"u8) => ChatEventType.Error,
        _ => ChatEventType.Unknown,
    };
}
