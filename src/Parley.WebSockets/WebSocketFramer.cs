using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using Parley.WebSockets.Internal;

namespace Parley.WebSockets;

/// <summary>
/// The framer of a WebSocket connection. It writes WebSocket frames: a server's are unmasked, so
/// a broadcast's frame is built once and shared by every WebSocket recipient like any other
/// <see cref="Frame"/>; a client's are masked with a fresh key each. It parses what the
/// connection's transport — the one <see cref="WebSocketListener"/> or
/// <see cref="WebSocketDialer"/> made — decoded: that transport unmasks the peer's frames,
/// joins fragments, checks text is UTF-8, answers pings and runs the close handshake, and
/// hands each whole message on behind a 4-byte length (<see cref="LengthPrefixedFramer"/>'s
/// format; a pong or an empty message arrives as its keep-alive).
/// </summary>
/// <remarks>Made by <see cref="WebSocketOptions.CreateFramer"/>; use it only on connections from
/// a <see cref="WebSocketListener"/> or <see cref="WebSocketDialer"/> with the same options.
/// Its keep-alive frame is an empty ping, which a browser answers with a pong.</remarks>
public sealed class WebSocketFramer : MessageFramer
{
    private static readonly byte[] s_serverPing = [0x89, 0x00];
    private static readonly byte[] s_clientPing = [0x89, 0x80, 0, 0, 0, 0]; // an empty payload: the key masks nothing

    private readonly LengthPrefixedFramer _decoded;
    private readonly byte _opcode;

    internal WebSocketFramer(int maxMessageSize, int maxOutgoingMessageSize, WebSocketMessageType messageType, bool isClient)
        : base(maxMessageSize, maxOutgoingMessageSize)
    {
        _decoded = new LengthPrefixedFramer(maxMessageSize);
        MessageType = messageType;
        IsClient = isClient;
        _opcode = (byte)(0x80 | (int)messageType);
        KeepAliveFrame = CreateConstantFrame(isClient ? s_clientPing : s_serverPing);
    }

    /// <summary>The kind of message this side sends.</summary>
    public WebSocketMessageType MessageType { get; }

    /// <summary>True when it writes a client's frames (masked).</summary>
    public bool IsClient { get; }

    /// <inheritdoc/>
    public override FrameParseStatus TryParse(in ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> payload, out SequencePosition consumed) =>
        _decoded.TryParse(buffer, out payload, out consumed);

    /// <inheritdoc/>
    public override FrameParseStatus TryParseContiguous(ReadOnlySpan<byte> buffer, out int payloadOffset, out int payloadLength, out int consumed) =>
        _decoded.TryParseContiguous(buffer, out payloadOffset, out payloadLength, out consumed);

    /// <inheritdoc/>
    public override int GetPayloadOffset(int payloadLength) => IsClient ? -1 : FrameHeader.Length(payloadLength, masked: false); // a client's payload is masked

    /// <inheritdoc/>
    public override int GetFrameLength(int payloadLength) => FrameHeader.Length(payloadLength, IsClient) + payloadLength;

    /// <inheritdoc/>
    public override void WriteFrame(ReadOnlySpan<byte> payload, Span<byte> destination)
    {
        if (payload.Length > MaxOutgoingMessageSize)
        {
            throw new ArgumentException($"The message is {payload.Length} bytes; this framer writes at most {MaxOutgoingMessageSize}.", nameof(payload));
        }

        int header = FrameHeader.Write(destination, _opcode, payload.Length, IsClient);
        if (!IsClient)
        {
            payload.CopyTo(destination[header..]);
            return;
        }

        // RFC 6455 5.3: a fresh, unpredictable key for every frame a client sends.
        Span<byte> key = destination.Slice(header - 4, 4);
        RandomNumberGenerator.Fill(key);
        int offset = 0;
        Masking.Apply(payload, destination[header..], BinaryPrimitives.ReadUInt32LittleEndian(key), ref offset);
    }
}
