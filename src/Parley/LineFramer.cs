using System.Buffers;

namespace Parley;

/// <summary>
/// Newline-delimited text frames: each message ends with LF; a CR before the LF is removed.
/// Empty lines are treated as keep-alives and not delivered. For text protocols such as the
/// chat server's JSON lines, usable from <c>nc</c>.
/// </summary>
/// <remarks>
/// A line longer than <see cref="MessageFramer.MaxMessageSize"/> (without its line ending) is
/// rejected as <see cref="FrameParseStatus.FrameTooLarge"/> as soon as that many bytes arrive
/// without a newline. This format sends no keep-alive frames of its own: a blank line would
/// show up in an interactive client.
/// </remarks>
public sealed class LineFramer : MessageFramer
{
    /// <summary>The default longest line: 64 KiB, far above any chat line.</summary>
    public const int DefaultMaxLineLength = 64 * 1024;

    private const byte LineFeed = (byte)'\n';
    private const byte CarriageReturn = (byte)'\r';

    /// <summary>A framer with the default 64 KiB line limit.</summary>
    public static LineFramer Default { get; } = new();

    /// <summary>Creates a line framer.</summary>
    /// <param name="maxLineLength">The longest line in bytes, line ending excluded (default 64 KiB).</param>
    public LineFramer(int maxLineLength = DefaultMaxLineLength)
        : base(maxLineLength)
    {
    }

    /// <summary>Creates a line framer that writes longer lines than it accepts (see
    /// <see cref="MessageFramer.MaxOutgoingMessageSize"/>).</summary>
    /// <param name="maxLineLength">The longest line accepted from a peer, line ending excluded.</param>
    /// <param name="maxOutgoingLineLength">The longest line written, line ending excluded.</param>
    public LineFramer(int maxLineLength, int maxOutgoingLineLength)
        : base(maxLineLength, maxOutgoingLineLength)
    {
    }

    /// <inheritdoc />
    public override FrameParseStatus TryParse(
        in ReadOnlySequence<byte> buffer,
        out ReadOnlySequence<byte> payload,
        out SequencePosition consumed)
    {
        payload = default;
        consumed = buffer.Start;

        // Never scan further than the longest legal line: CR + LF past the limit.
        long window = Math.Min(buffer.Length, (long)MaxMessageSize + 2);
        ReadOnlySequence<byte> scan = window == buffer.Length ? buffer : buffer.Slice(0, window);
        SequencePosition? newline = scan.IsSingleSegment
            ? IndexOfSingleSegment(scan)
            : scan.PositionOf(LineFeed);

        if (newline is null)
        {
            return window > MaxMessageSize + 1 || (window > MaxMessageSize && !EndsWithCarriageReturn(scan))
                ? FrameParseStatus.FrameTooLarge
                : FrameParseStatus.NeedMoreData;
        }

        ReadOnlySequence<byte> line = buffer.Slice(0, newline.Value);
        consumed = buffer.GetPosition(1, newline.Value);
        if (!line.IsEmpty && EndsWithCarriageReturn(line))
        {
            line = line.Slice(0, line.Length - 1);
        }

        if (line.Length > MaxMessageSize)
        {
            consumed = buffer.Start;
            return FrameParseStatus.FrameTooLarge;
        }

        if (line.IsEmpty)
        {
            return FrameParseStatus.KeepAlive;
        }

        payload = line;
        return FrameParseStatus.Message;
    }

    /// <inheritdoc/>
    public override FrameParseStatus TryParseContiguous(ReadOnlySpan<byte> buffer, out int payloadOffset, out int payloadLength, out int consumed)
    {
        payloadOffset = 0;
        payloadLength = 0;
        consumed = 0;

        // The same window as the sequence overload: a line feed further out means a line too long.
        int newline = buffer[..(int)Math.Min(buffer.Length, (long)MaxMessageSize + 2)].IndexOf(LineFeed);
        if (newline < 0)
        {
            return FrameParseStatus.NeedMoreData;
        }

        int length = newline > 0 && buffer[newline - 1] == CarriageReturn ? newline - 1 : newline;
        if (length > MaxMessageSize)
        {
            return FrameParseStatus.NeedMoreData; // too long: the sequence overload says so
        }

        consumed = newline + 1;
        if (length == 0)
        {
            return FrameParseStatus.KeepAlive;
        }

        payloadLength = length;
        return FrameParseStatus.Message;
    }

    private static SequencePosition? IndexOfSingleSegment(in ReadOnlySequence<byte> buffer)
    {
        int index = buffer.FirstSpan.IndexOf(LineFeed);
        return index < 0 ? null : buffer.GetPosition(index);
    }

    private static bool EndsWithCarriageReturn(in ReadOnlySequence<byte> sequence)
    {
        if (sequence.IsSingleSegment)
        {
            return sequence.FirstSpan[^1] == CarriageReturn;
        }

        return sequence.Slice(sequence.Length - 1).FirstSpan[0] == CarriageReturn;
    }

    /// <inheritdoc />
    public override int GetPayloadOffset(int payloadLength) => 0;

    /// <inheritdoc />
    public override int GetFrameLength(int payloadLength) => payloadLength + 1;

    /// <inheritdoc />
    public override void WriteFrame(ReadOnlySpan<byte> payload, Span<byte> destination)
    {
        if (payload.Length > MaxOutgoingMessageSize)
        {
            Internal.ThrowHelper.ThrowMessageTooLarge(payload.Length, MaxOutgoingMessageSize);
        }

        if (payload.Contains(LineFeed))
        {
            Internal.ThrowHelper.ThrowLineContainsNewline();
        }

        payload.CopyTo(destination);
        destination[payload.Length] = LineFeed;
    }
}
