namespace Parley.Ipc;

/// <summary>A shared-memory channel could not be opened, or ended while in use.</summary>
public class IpcException : Exception
{
    /// <summary>Creates an exception with a default message.</summary>
    public IpcException()
    {
    }

    /// <summary>Creates an exception with <paramref name="message"/>.</summary>
    public IpcException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with <paramref name="message"/> caused by <paramref name="innerException"/>.</summary>
    public IpcException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an exception for a channel that ended for <paramref name="reason"/>.</summary>
    public IpcException(string message, CloseReason reason)
        : base(message)
    {
        Reason = reason;
    }

    /// <summary>Why the channel ended; <see cref="CloseReason.None"/> for a failure to open.</summary>
    public CloseReason Reason { get; }
}

/// <summary>The shared region broke the format (a corrupt record length or tag). The channel is closed.</summary>
public sealed class IpcProtocolException : IpcException
{
    /// <summary>Creates an exception with a default message.</summary>
    public IpcProtocolException()
    {
    }

    /// <summary>Creates an exception with <paramref name="message"/>.</summary>
    public IpcProtocolException(string message)
        : base(message, CloseReason.ProtocolError)
    {
    }

    /// <summary>Creates an exception with <paramref name="message"/> caused by <paramref name="innerException"/>.</summary>
    public IpcProtocolException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
