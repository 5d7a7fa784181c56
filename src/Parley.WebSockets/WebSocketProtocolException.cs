namespace Parley.WebSockets;

/// <summary>
/// The peer broke the WebSocket protocol (an unmasked client frame, text that is not UTF-8, a
/// message over the limit…). The connection sent a Close frame with <see cref="CloseStatus"/>
/// and closes with <see cref="CloseReason.ProtocolError"/>; its
/// <see cref="Connection.CloseException"/> is an <see cref="InvalidDataException"/> with this
/// as its inner exception.
/// </summary>
public sealed class WebSocketProtocolException : IOException
{
    /// <summary>Creates the exception.</summary>
    public WebSocketProtocolException(int closeStatus, string reason)
        : base($"WebSocket protocol error ({closeStatus}): {reason}")
    {
        CloseStatus = closeStatus;
    }

    /// <summary>Creates the exception.</summary>
    public WebSocketProtocolException()
        : this(WebSocketCloseStatus.ProtocolError, "protocol error")
    {
    }

    /// <summary>Creates the exception.</summary>
    public WebSocketProtocolException(string message)
        : base(message)
    {
        CloseStatus = WebSocketCloseStatus.ProtocolError;
    }

    /// <summary>Creates the exception.</summary>
    public WebSocketProtocolException(string message, Exception innerException)
        : base(message, innerException)
    {
        CloseStatus = WebSocketCloseStatus.ProtocolError;
    }

    /// <summary>The close code sent to the peer.</summary>
    public int CloseStatus { get; }
}
