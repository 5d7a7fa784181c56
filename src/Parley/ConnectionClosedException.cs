namespace Parley;

/// <summary>Thrown by asynchronous operations on a connection that has closed.</summary>
public sealed class ConnectionClosedException : IOException
{
    /// <summary>Creates the exception.</summary>
    public ConnectionClosedException()
        : this(CloseReason.None)
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public ConnectionClosedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and inner exception.</summary>
    public ConnectionClosedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a connection closed for <paramref name="reason"/>.</summary>
    public ConnectionClosedException(CloseReason reason)
        : base($"The connection is closed ({reason}).")
    {
        Reason = reason;
    }

    /// <summary>Why the connection closed.</summary>
    public CloseReason Reason { get; }
}
