using System.Buffers;
using System.Buffers.Binary;

namespace Parley;

/// <summary>
/// The default frame format, compatible with Miku: a <c>u32</c> little-endian payload length
/// followed by the payload. A zero length is a keep-alive and is never delivered.
/// </summary>
/// <remarks>
/// A length above <see cref="MessageFramer.MaxMessageSize"/> is rejected as soon as the four
/// header bytes are in, before any of the payload is buffered.
/// </remarks>
public sealed class LengthPrefixedFramer : MessageFramer
{
    /// <summary>The size of the length prefix.</summary>
    public const int HeaderLength = 4;

    /// <summary>The default largest payload: 1 MiB, enough for any chat or game message while
    /// bounding what one peer can make the server buffer.</summary>
    public const int DefaultMaxMessageSize = 1024 * 1024;

    private static readonly byte[] KeepAliveBytes = new byte[HeaderLength];

    /// <summary>A framer with the default 1 MiB limit.</summary>
    public static LengthPrefixedFramer Default { get; } = new();

    /// <summary>Creates a length-prefixed framer.</summary>
    /// <param name="maxMessageSize">The largest payload in bytes (default 1 MiB).</param>
    public LengthPrefixedFramer(int maxMessageSize = DefaultMaxMessageSize)
        : base(maxMessageSize)
    {
        KeepAliveFrame = Frame.CreateStatic(KeepAliveBytes);
    }

    /// <inheritdoc />
    public override FrameParseStatus TryParse(
        in ReadOnlySequence<byte> buffer,
        out ReadOnlySequence<byte> payload,
        out SequencePosition consumed)
    {
        payload = default;
        consumed = buffer.Start;
        if (buffer.Length < HeaderLength)
        {
            return FrameParseStatus.NeedMoreData;
        }

        uint length = buffer.FirstSpan.Length >= HeaderLength
            ? BinaryPrimitives.ReadUInt32LittleEndian(buffer.FirstSpan)
            : ReadLengthMultiSegment(buffer);

        if (length > (uint)MaxMessageSize)
        {
            return FrameParseStatus.FrameTooLarge;
        }

        if (length == 0)
        {
            consumed = buffer.GetPosition(HeaderLength);
            return FrameParseStatus.KeepAlive;
        }

        if (buffer.Length - HeaderLength < length)
        {
            return FrameParseStatus.NeedMoreData;
        }

        payload = buffer.Slice(HeaderLength, length);
        consumed = payload.End;
        return FrameParseStatus.Message;
    }

    /// <inheritdoc/>
    public override FrameParseStatus TryParseContiguous(ReadOnlySpan<byte> buffer, out int payloadOffset, out int payloadLength, out int consumed)
    {
        payloadOffset = HeaderLength;
        payloadLength = 0;
        consumed = 0;
        if (buffer.Length < HeaderLength)
        {
            return FrameParseStatus.NeedMoreData;
        }

        uint length = BinaryPrimitives.ReadUInt32LittleEndian(buffer);
        if (length > (uint)MaxMessageSize || (uint)(buffer.Length - HeaderLength) < length)
        {
            return FrameParseStatus.NeedMoreData; // too large, or not all here: the sequence overload decides
        }

        consumed = HeaderLength + (int)length;
        if (length == 0)
        {
            return FrameParseStatus.KeepAlive;
        }

        payloadLength = (int)length;
        return FrameParseStatus.Message;
    }

    private static uint ReadLengthMultiSegment(in ReadOnlySequence<byte> buffer)
    {
        Span<byte> header = stackalloc byte[HeaderLength];
        buffer.Slice(0, HeaderLength).CopyTo(header);
        return BinaryPrimitives.ReadUInt32LittleEndian(header);
    }

    /// <inheritdoc />
    public override int GetPayloadOffset(int payloadLength) => HeaderLength;

    /// <inheritdoc />
    public override int GetFrameLength(int payloadLength) => HeaderLength + payloadLength;

    /// <inheritdoc />
    public override void WriteFrame(ReadOnlySpan<byte> payload, Span<byte> destination)
    {
        if (payload.Length > MaxOutgoingMessageSize)
        {
            Internal.ThrowHelper.ThrowMessageTooLarge(payload.Length, MaxOutgoingMessageSize);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(destination, (uint)payload.Length);
        payload.CopyTo(destination[HeaderLength..]);
    }
}
