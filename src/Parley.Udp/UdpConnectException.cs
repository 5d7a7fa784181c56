namespace Parley.Udp;

/// <summary>A connect that did not complete.</summary>
public sealed class UdpConnectException(string message, CloseReason reason) : Exception(message)
{
    /// <summary>Why.</summary>
    public CloseReason Reason { get; } = reason;
}
