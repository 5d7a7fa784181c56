namespace Parley.WebSockets;

/// <summary>The close codes Parley sends (RFC 6455, section 7.4.1).</summary>
public static class WebSocketCloseStatus
{
    /// <summary>1000: the purpose of the connection is fulfilled.</summary>
    public const int NormalClosure = 1000;

    /// <summary>1001: the server is going away.</summary>
    public const int GoingAway = 1001;

    /// <summary>1002: the peer broke the protocol.</summary>
    public const int ProtocolError = 1002;

    /// <summary>1003: a kind of data this endpoint does not accept (binary where only text is).</summary>
    public const int UnsupportedData = 1003;

    /// <summary>1007: a text message that is not UTF-8.</summary>
    public const int InvalidPayloadData = 1007;

    /// <summary>1008: a message that violates the endpoint's policy.</summary>
    public const int PolicyViolation = 1008;

    /// <summary>1009: a message larger than this endpoint accepts.</summary>
    public const int MessageTooBig = 1009;

    /// <summary>1011: the server met an unexpected condition.</summary>
    public const int InternalError = 1011;

    /// <summary>Whether a code received in a Close frame is one a peer may send: 1000–1003,
    /// 1007–1011 (and the 1012–1014 that servers use), or 3000–4999 (registered and private).</summary>
    public static bool IsValidReceived(int code) =>
        code is (>= 1000 and <= 1003) or (>= 1007 and <= 1014) or (>= 3000 and <= 4999);
}
