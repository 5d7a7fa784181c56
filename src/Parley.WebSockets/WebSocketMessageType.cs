namespace Parley.WebSockets;

/// <summary>The kind of data message (RFC 6455, section 5.6).</summary>
public enum WebSocketMessageType
{
    /// <summary>UTF-8 text (opcode 1): checked on receipt, invalid text closes with 1007.</summary>
    Text = 1,

    /// <summary>Arbitrary bytes (opcode 2).</summary>
    Binary = 2,
}
