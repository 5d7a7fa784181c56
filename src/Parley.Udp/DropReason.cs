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

    /// <summary>A handshake packet that is too small (amplification guard), carries a bad cookie or public key, or does not match a connecting peer.</summary>
    BadHandshake,

    /// <summary>
    /// A packet for a live session whose tag does not verify under the session's keys (forged,
    /// tampered with, or from before a restart), or an unauthenticated Close naming a live
    /// session. Its checksum was valid, so it was not damaged on the way: someone made it. Nothing
    /// in it is acted on.
    /// </summary>
    AuthenticationFailed,

    /// <summary>An authenticated packet the session already had, arriving from another address: a copy replayed from elsewhere. Not acknowledged.</summary>
    Replayed,

    /// <summary>A Connect from an address that holds <see cref="UdpHostOptions.MaxPeersPerAddress"/> sessions already (it is answered with a refusal).</summary>
    AddressLimit,
}
