namespace Parley.Chat;

/// <summary>The server refused a <see cref="ChatClient"/> request: its <c>error</c> event.</summary>
public sealed class ChatServerException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ChatServerException()
        : this(new ChatError(ErrorCodes.InternalError, "the server refused the request"))
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public ChatServerException(string message)
        : this(new ChatError(ErrorCodes.InternalError, message))
    {
    }

    /// <summary>Creates the exception with a message and inner exception.</summary>
    public ChatServerException(string message, Exception innerException)
        : base(message, innerException)
    {
        Error = new ChatError(ErrorCodes.InternalError, message);
    }

    /// <summary>Creates the exception for the server's <paramref name="error"/>.</summary>
    public ChatServerException(ChatError error)
        : base($"The chat server refused {error.Command ?? "the request"}: {error.Code}: {error.Message}")
    {
        Error = error;
    }

    /// <summary>What the server said.</summary>
    public ChatError Error { get; }

    /// <summary>The error's code: one of <see cref="ErrorCodes"/>, or one this version does not know.</summary>
    public string Code => Error.Code;
}
