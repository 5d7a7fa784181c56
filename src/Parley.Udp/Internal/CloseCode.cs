namespace Parley.Udp;

/// <summary>
/// The reason byte of a Close packet (docs/wire-formats.md). The wire keeps these numbers; the
/// API speaks <see cref="CloseReason"/>, the words every Parley transport uses.
/// </summary>
internal enum CloseCode : byte
{
    None = 0,
    Local = 1,
    Remote = 2,
    Timeout = 3,
    ConnectFailed = 4,
    ServerFull = 5,
    MessageTimeout = 6,
    HostClosed = 7,
    ProtocolViolation = 8,
    AddressLimit = 9,
}

/// <summary>Between the wire's <see cref="CloseCode"/> and <see cref="CloseReason"/>.</summary>
internal static class CloseCodes
{
    public static byte ToWire(CloseReason reason) => (byte)(reason switch
    {
        CloseReason.None => CloseCode.None,
        CloseReason.RemoteClose => CloseCode.Remote,
        CloseReason.IdleTimeout => CloseCode.Timeout,
        CloseReason.ConnectFailed => CloseCode.ConnectFailed,
        CloseReason.ConnectionLimit => CloseCode.ServerFull,
        CloseReason.MessageTimeout => CloseCode.MessageTimeout,
        CloseReason.ServerShutdown => CloseCode.HostClosed,
        CloseReason.ProtocolError => CloseCode.ProtocolViolation,
        CloseReason.AddressLimit => CloseCode.AddressLimit,
        _ => CloseCode.Local, // this side ended it, whatever the local cause
    });

    public static CloseReason FromWire(byte code) => (CloseCode)code switch
    {
        CloseCode.None => CloseReason.None,
        CloseCode.Local => CloseReason.LocalClose,
        CloseCode.Remote => CloseReason.RemoteClose,
        CloseCode.Timeout => CloseReason.IdleTimeout,
        CloseCode.ConnectFailed => CloseReason.ConnectFailed,
        CloseCode.ServerFull => CloseReason.ConnectionLimit,
        CloseCode.MessageTimeout => CloseReason.MessageTimeout,
        CloseCode.HostClosed => CloseReason.ServerShutdown,
        CloseCode.ProtocolViolation => CloseReason.ProtocolError,
        CloseCode.AddressLimit => CloseReason.AddressLimit,
        _ => CloseReason.ConnectFailed, // an unknown code from a newer peer: the attempt failed
    };
}
