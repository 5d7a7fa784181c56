namespace Parley.Udp;

/// <summary>A connect that did not complete.</summary>
public sealed class UdpConnectException(string message, DisconnectReason reason) : Exception(message)
{
    /// <summary>Why.</summary>
    public DisconnectReason Reason { get; } = reason;
}
