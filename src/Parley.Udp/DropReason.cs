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
}
