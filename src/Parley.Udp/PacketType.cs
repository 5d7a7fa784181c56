namespace Parley.Udp;

/// <summary>The kind of a datagram (the low nibble of its first byte; docs/wire-formats.md, "UDP packet").</summary>
public enum PacketType : byte
{
    /// <summary>Client → server, first contact: asks for a cookie. Padded to the minimum packet size so the answer is never larger (no amplification).</summary>
    Hello = 1,

    /// <summary>Server → client: a stateless cookie binding the client's address and a timestamp. The server keeps nothing until it comes back.</summary>
    Cookie = 2,

    /// <summary>Client → server: the hello again, with the cookie. Creates the session.</summary>
    Connect = 3,

    /// <summary>Server → client: the session id and the negotiated limits.</summary>
    Accept = 4,

    /// <summary>Either side, within a session: one or more frames (messages, acknowledgements, heartbeats, window updates).</summary>
    Data = 5,

    /// <summary>Either side: the session ends (with a reason code).</summary>
    Close = 6,

    /// <summary>Path-MTU probe: a padded packet whose acknowledgement proves that size gets through.</summary>
    Probe = 7,
}
