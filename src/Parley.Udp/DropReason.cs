namespace Parley.Udp;

/// <summary>Why an incoming datagram was dropped before any processing (counted per reason, never thrown).</summary>
public enum DropReason
{
    /// <summary>Not dropped.</summary>
    None,

    /// <summary>Shorter than a header plus checksum.</summary>
    TooShort,

    /// <summary>Longer than the configured maximum packet size.</summary>
    TooLong,

    /// <summary>A protocol version this peer does not speak.</summary>
    UnknownVersion,

    /// <summary>A packet type this version does not define.</summary>
    UnknownType,

    /// <summary>The CRC32C does not match: corrupted on the way (or not ours).</summary>
    BadChecksum,

    /// <summary>The sender's address is blacklisted.</summary>
    Blacklisted,

    /// <summary>The frames inside do not parse.</summary>
    MalformedFrames,

    /// <summary>No session with the packet's session id (or not from the session's peer).</summary>
    UnknownSession,

    /// <summary>A handshake packet that is too small (amplification guard), carries a bad cookie, or does not match a connecting peer.</summary>
    BadHandshake,
}
