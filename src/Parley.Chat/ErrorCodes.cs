namespace Parley.Chat;

/// <summary>The <c>code</c> values of the protocol's <c>error</c> event (docs/wire-formats.md).</summary>
public static class ErrorCodes
{
    /// <summary>The line is not a JSON object, or has no <c>"_ct"</c>.</summary>
    public const string Malformed = "malformed";

    /// <summary>The <c>"_ct"</c> names no command.</summary>
    public const string UnknownCommand = "unknown_command";

    /// <summary>A field is missing or of the wrong type.</summary>
    public const string InvalidArgument = "invalid_argument";

    /// <summary>No room has that name.</summary>
    public const string UnknownRoom = "unknown_room";

    /// <summary>The session is not in that room.</summary>
    public const string NotAMember = "not_a_member";

    /// <summary>The session is already in that room.</summary>
    public const string AlreadyMember = "already_member";

    /// <summary>The session is in as many rooms as allowed.</summary>
    public const string TooManyRooms = "too_many_rooms";

    /// <summary>The message content is longer than allowed.</summary>
    public const string MessageTooLong = "message_too_long";

    /// <summary>The message content is empty.</summary>
    public const string EmptyMessage = "empty_message";

    /// <summary>The server requires <c>login</c> first.</summary>
    public const string NotLoggedIn = "not_logged_in";

    /// <summary>The session is logged in already.</summary>
    public const string AlreadyLoggedIn = "already_logged_in";

    /// <summary>Wrong user name or password.</summary>
    public const string LoginFailed = "login_failed";

    /// <summary>Too many failed logins for that name: wait and try again.</summary>
    public const string Throttled = "throttled";

    /// <summary>The user holds as many sessions as allowed.</summary>
    public const string TooManySessions = "too_many_sessions";

    /// <summary>The message could not be stored (the server's disk failed); it was not delivered. The
    /// server's fault: it does not count against the error budget, and the server tries its disk again
    /// by itself, so the client may send again later.</summary>
    public const string StorageFailed = "storage_failed";

    /// <summary>A clustered server cannot reach the engine its nodes share (NATS JetStream), so the
    /// message was not stored and not delivered. The server's fault, not the peer's: it does not count
    /// against the error budget; send again once the cluster is back. (When the engine stored it but
    /// its confirmation was lost, the message is delivered all the same, without an ack.)</summary>
    public const string Unavailable = "unavailable";

    /// <summary>Too many refused commands: the connection is being closed.</summary>
    public const string TooManyErrors = "too_many_errors";

    /// <summary>The server failed to carry out the command (a fault on its side); the session is closed.</summary>
    public const string InternalError = "internal_error";

    /// <summary>The server holds as many connections as it allows (overall or from this address); sent before it closes a new one.</summary>
    public const string ServerFull = "server_full";

    /// <summary>No login (or, on an open server, no command) within the login timeout: the connection is being closed.</summary>
    public const string LoginTimeout = "login_timeout";
}
