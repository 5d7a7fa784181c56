using System.Buffers;

namespace Parley;

/// <summary>
/// No framing: every chunk of bytes is delivered as it arrives, and sent bytes go out as
/// they are. For peers that speak a protocol framing itself (echo, HTTP, custom binary).
/// </summary>
/// <remarks>
/// A delivered chunk is at most what one receive brought in, so its size is bounded by the
/// connection's read buffer. There is no keep-alive frame.
/// </remarks>
public sealed class RawFramer : MessageFramer
{
    /// <summary>The default largest single send: 1 MiB.</summary>
    public const int DefaultMaxMessageSize = 1024 * 1024;

    /// <summary>A raw framer with the default limits.</summary>
    public static RawFramer Default { get; } = new();

    /// <summary>Creates a raw framer.</summary>
    /// <param name="maxMessageSize">The largest single send in bytes (default 1 MiB).</param>
    public RawFramer(int maxMessageSize = DefaultMaxMessageSize)
        : base(maxMessageSize)
    {
    }

    /// <inheritdoc />
    public override FrameParseStatus TryParse(
        in ReadOnlySequence<byte> buffer,
        out ReadOnlySequence<byte> payload,
        out SequencePosition consumed)
    {
        if (buffer.IsEmpty)
        {
            payload = default;
            consumed = buffer.Start;
            return FrameParseStatus.NeedMoreData;
        }

        payload = buffer;
        consumed = buffer.End;
        return FrameParseStatus.Message;
    }

    /// <inheritdoc />
    public override int GetFrameLength(int payloadLength) => payloadLength;

    /// <inheritdoc />
    public override void WriteFrame(ReadOnlySpan<byte> payload, Span<byte> destination)
    {
        if (payload.Length > MaxOutgoingMessageSize)
        {
            Internal.ThrowHelper.ThrowMessageTooLarge(payload.Length, MaxOutgoingMessageSize);
        }

        payload.CopyTo(destination);
    }
}
