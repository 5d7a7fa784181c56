namespace Parley.Chat;

/// <summary>
/// A <see cref="ChatClient"/> request cannot complete: the connection closed (or was never
/// usable) before the server answered. <see cref="Reason"/> says why; when the server said why
/// before it closed (<c>server_full</c>, <c>login_timeout</c>, <c>too_many_errors</c>, …),
/// <see cref="ServerError"/> holds its word.
/// </summary>
public sealed class ChatConnectionClosedException : IOException
{
    /// <summary>Creates the exception.</summary>
    public ChatConnectionClosedException()
        : this("The chat connection is closed.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public ChatConnectionClosedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and inner exception.</summary>
    public ChatConnectionClosedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a connection closed for <paramref name="reason"/>.</summary>
    public ChatConnectionClosedException(string message, CloseReason reason, ChatError? serverError = null, Exception? innerException = null)
        : base(message, innerException)
    {
        Reason = reason;
        ServerError = serverError;
    }

    /// <summary>Why the connection closed: <see cref="CloseReason.ProtocolError"/> when the server
    /// sent what is not the chat protocol, <see cref="CloseReason.LocalClose"/> after
    /// <see cref="ChatClient.CloseAsync"/>, …</summary>
    public CloseReason Reason { get; }

    /// <summary>The last error the server sent that answered no request, if any: often why it closed.</summary>
    public ChatError? ServerError { get; }
}
