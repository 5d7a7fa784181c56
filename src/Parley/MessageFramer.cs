using System.Buffers;

namespace Parley;

/// <summary>
/// Turns a byte stream into messages and messages into frames. A framer parses one message
/// and writes one message; it knows nothing of sockets or connections.
/// </summary>
/// <remarks>
/// Implementations are stateless and thread-safe: one instance serves every connection.
/// <see cref="TryParse"/> must work when a frame spans several segments and when it is fed
/// one byte at a time, and must never look past a declared limit before rejecting a frame.
/// </remarks>
public abstract class MessageFramer
{
    /// <summary>Creates a framer whose messages are at most <paramref name="maxMessageSize"/> bytes.</summary>
    protected MessageFramer(int maxMessageSize)
        : this(maxMessageSize, maxMessageSize)
    {
    }

    /// <summary>
    /// Creates a framer that accepts messages of at most <paramref name="maxMessageSize"/> bytes
    /// and writes messages of at most <paramref name="maxOutgoingMessageSize"/> bytes.
    /// </summary>
    /// <remarks>
    /// The receive limit protects this side from its peers; the send limit only bounds what this
    /// side itself composes. A server whose replies are built from many peers' data (a member
    /// list, a page of history) gives its replies a larger limit than its peers' requests, and
    /// its peers must accept frames that large.
    /// </remarks>
    protected MessageFramer(int maxMessageSize, int maxOutgoingMessageSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxMessageSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxOutgoingMessageSize);
        MaxMessageSize = maxMessageSize;
        MaxOutgoingMessageSize = maxOutgoingMessageSize;
    }

    /// <summary>The largest payload, in bytes, this framer accepts from a peer.</summary>
    public int MaxMessageSize { get; }

    /// <summary>The largest payload, in bytes, this framer writes. Equal to
    /// <see cref="MaxMessageSize"/> unless the framer was created with a separate limit.</summary>
    public int MaxOutgoingMessageSize { get; }

    /// <summary>
    /// The encoded keep-alive frame this format sends on an idle connection, or
    /// <see langword="null"/> when the format has none (then only inbound traffic keeps a
    /// connection alive).
    /// </summary>
    public Frame? KeepAliveFrame { get; protected init; }

    /// <summary>
    /// A constant frame of already encoded bytes, never pooled and never freed: for a framer's
    /// <see cref="KeepAliveFrame"/> (a WebSocket ping, say) and other frames sent as they are.
    /// </summary>
    /// <param name="encoded">The bytes as they go on the wire; kept, not copied: never change them.</param>
    protected static Frame CreateConstantFrame(byte[] encoded)
    {
        ArgumentNullException.ThrowIfNull(encoded);
        return Frame.CreateStatic(encoded);
    }

    /// <summary>
    /// Parses the frame at the start of <paramref name="buffer"/>.
    /// </summary>
    /// <param name="buffer">Unconsumed received bytes.</param>
    /// <param name="payload">The message payload when the result is <see cref="FrameParseStatus.Message"/>;
    /// a slice of <paramref name="buffer"/>, valid as long as the buffer is.</param>
    /// <param name="consumed">Where the next frame starts, for <see cref="FrameParseStatus.Message"/>
    /// and <see cref="FrameParseStatus.KeepAlive"/>. For other results, the buffer start.
    /// When the result is <see cref="FrameParseStatus.NeedMoreData"/> everything was examined.</param>
    public abstract FrameParseStatus TryParse(
        in ReadOnlySequence<byte> buffer,
        out ReadOnlySequence<byte> payload,
        out SequencePosition consumed);

    /// <summary>
    /// Optional fast path: parses the frame at the start of one contiguous span of received
    /// bytes. Both of a connection's readers (the event pump and <c>ReadMessagesAsync</c>) call it first for the frames that lie wholly inside one receive
    /// segment (nearly all of them), and fall back to the sequence overload for the rest, which
    /// stays the one authority on every result. Overriding it saves the cost of slicing a
    /// <see cref="ReadOnlySequence{T}"/> per message.
    /// </summary>
    /// <remarks>
    /// An override returns <see cref="FrameParseStatus.Message"/> or
    /// <see cref="FrameParseStatus.KeepAlive"/> only where the sequence overload would return
    /// the same for the same bytes, and <see cref="FrameParseStatus.NeedMoreData"/> for
    /// anything else: an incomplete frame, a violation, or a case it leaves to the sequence
    /// overload. The base implementation declines everything.
    /// </remarks>
    /// <param name="buffer">Unconsumed received bytes (possibly followed by more, elsewhere).</param>
    /// <param name="payloadOffset">For a message, where its payload starts in <paramref name="buffer"/>.</param>
    /// <param name="payloadLength">For a message, its payload's length.</param>
    /// <param name="consumed">For a message or keep-alive, the frame's length: where the next frame starts.</param>
    public virtual FrameParseStatus TryParseContiguous(ReadOnlySpan<byte> buffer, out int payloadOffset, out int payloadLength, out int consumed)
    {
        payloadOffset = 0;
        payloadLength = 0;
        consumed = 0;
        return FrameParseStatus.NeedMoreData;
    }

    /// <summary>The encoded size of a payload of <paramref name="payloadLength"/> bytes.</summary>
    public abstract int GetFrameLength(int payloadLength);

    /// <summary>
    /// Encodes <paramref name="payload"/> into <paramref name="destination"/>, which is exactly
    /// <see cref="GetFrameLength"/> bytes long.
    /// </summary>
    /// <exception cref="ArgumentException">The payload is larger than <see cref="MaxOutgoingMessageSize"/>
    /// or cannot be expressed in this format.</exception>
    public abstract void WriteFrame(ReadOnlySpan<byte> payload, Span<byte> destination);

    /// <summary>
    /// Where the payload starts in a frame of a <paramref name="payloadLength"/>-byte payload
    /// that <see cref="WriteFrame"/> wrote, when it is stored there unchanged (after a length
    /// prefix, before a line ending…); -1 when it is transformed or the format cannot say. A
    /// <see cref="ConnectionGroup"/> whose members use several framers uses it to frame a
    /// <see cref="Frame"/> again for members of another format. The default is -1.
    /// </summary>
    public virtual int GetPayloadOffset(int payloadLength) => -1;

    /// <summary>Throws unless <paramref name="payload"/> can be sent as one message of this format.</summary>
    internal void ValidatePayload(ReadOnlySpan<byte> payload)
    {
        if (payload.IsEmpty)
        {
            // A zero-length frame is a keep-alive (and an empty line is skipped): it would never arrive.
            Internal.ThrowHelper.ThrowEmptyMessage();
        }

        if (payload.Length > MaxOutgoingMessageSize)
        {
            Internal.ThrowHelper.ThrowMessageTooLarge(payload.Length, MaxOutgoingMessageSize);
        }
    }

    /// <summary>
    /// Encodes <paramref name="payload"/> once into a pooled frame that can be sent to any
    /// number of connections. The caller owns one reference and must release it.
    /// </summary>
    /// <remarks>The frame's buffer comes from <paramref name="pool"/>; the <see cref="Frame"/> object
    /// itself is a small allocation that is never recycled, so that a reference kept by mistake
    /// cannot reach another message (see <see cref="Frame"/>). Parley's own sends
    /// (<see cref="Connection.Send(ReadOnlySpan{byte})"/>, <see cref="ConnectionGroup.Broadcast(ReadOnlySpan{byte}, Connection?)"/>)
    /// use recycled frames and allocate nothing.</remarks>
    /// <exception cref="ArgumentException">The payload is empty (an empty message cannot be
    /// told apart from a keep-alive), or larger than <see cref="MaxOutgoingMessageSize"/>.</exception>
    public Frame CreateFrame(ReadOnlySpan<byte> payload, BufferPool pool)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ValidatePayload(payload);
        return Fill(Frame.RentForCaller(pool, GetFrameLength(payload.Length)), payload);
    }

    /// <summary>
    /// Encodes <paramref name="payload"/> into a recycled frame for Parley's own sends, with one
    /// queue reference owned by the caller. It must never be handed to application code.
    /// </summary>
    internal Frame CreateQueuedFrame(ReadOnlySpan<byte> payload, BufferPool pool)
    {
        ValidatePayload(payload);
        return Fill(Frame.Rent(pool, GetFrameLength(payload.Length)), payload);
    }

    /// <summary>Writes <paramref name="payload"/> into a frame just rented; a frame that cannot be written is freed.</summary>
    private Frame Fill(Frame frame, ReadOnlySpan<byte> payload)
    {
        try
        {
            WriteFrame(payload, frame.WritableSpan);
            frame.SetOrigin(this, GetPayloadOffset(payload.Length), payload.Length);
        }
        catch
        {
            frame.DiscardUnshared();
            throw;
        }

        return frame;
    }
}
