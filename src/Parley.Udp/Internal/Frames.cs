namespace Parley.Udp;

/// <summary>The frame kinds inside a <see cref="PacketType.Data"/> payload (first byte of each frame).</summary>
internal enum FrameType : byte
{
    /// <summary>The rest of the payload is padding (zeros).</summary>
    Padding = 0,

    /// <summary>A message or a fragment of one.</summary>
    Message = 1,

    /// <summary>Selective acknowledgement of packet numbers.</summary>
    Ack = 2,

    /// <summary>Message ids the application consumed ("delivered" confirmations).</summary>
    Delivered = 3,

    /// <summary>A timestamp, and the peer's last timestamp echoed, for RTT.</summary>
    Heartbeat = 4,

    /// <summary>Receive credit in bytes.</summary>
    Window = 5,

    /// <summary>A gap of packet numbers the receiver asks for again.</summary>
    Nack = 6,

    /// <summary>
    /// A run of whole (unfragmented) messages of one channel and mode with consecutive ids and
    /// sequences: one 12-byte header, then 2 bytes per message. Readers hand each one out as a
    /// <see cref="Message"/>.
    /// </summary>
    MessageRun = 7,

    /// <summary>The session ends: a reason code (<see cref="CloseReason"/>). Sealed like every frame, so no one else can end a session.</summary>
    Close = 8,

    /// <summary>Path validation: 8 random bytes sent to a new address the peer's packets came from.</summary>
    PathChallenge = 9,

    /// <summary>Path validation: the 8 bytes of a challenge, echoed.</summary>
    PathResponse = 10,
}

/// <summary>Message ids <c>First .. First + Count - 1</c> the peer's application consumed.</summary>
internal readonly record struct DeliveredRun(uint First, int Count)
{
    /// <summary>The longest run one entry of a Delivered frame carries (its count is a u16 of count - 1).</summary>
    public const int MaxCount = 65536;

    public const int EncodedSize = 6;
}

/// <summary>
/// A message frame: <c>u8 channel · u8 mode · u32 message id · u32 sequence · u16 fragment · u16 fragments · u16 length ·
/// [u32 total length, only when fragments &gt; 1] · bytes</c>. Every fragment but the last carries
/// <c>ceil(total / fragments)</c> bytes, so a receiver places each at <c>fragment × that</c> in one buffer;
/// that size is at least <see cref="MinFragmentSize"/>.
/// </summary>
internal readonly ref struct MessageFrame(byte channel, DeliveryMode mode, uint messageId, uint sequence, ushort fragment, ushort fragments, ReadOnlySpan<byte> data, uint totalLength = 0)
{
    public const int HeaderSize = 1 + 1 + 1 + 4 + 4 + 2 + 2 + 2;

    /// <summary>The header of a fragment of a multi-fragment message (with the total length).</summary>
    public const int FragmentHeaderSize = HeaderSize + 4;

    /// <summary>
    /// The least a fragment other than the last may carry: 256 bytes. A sender fragments to fill
    /// packets of at least 576 bytes, so its fragments carry at least 262 (half a packet's room,
    /// for a message just over one packet). The floor keeps a 1 MiB message to at most 4096
    /// fragments: one peer cannot make the receiver track 61 681 pieces of 17 bytes each.
    /// </summary>
    public const int MinFragmentSize = 256;

    /// <summary>The whole message's length (fragmented messages only; the data length otherwise).</summary>
    public uint TotalLength { get; } = fragments > 1 ? totalLength : (uint)data.Length;

    public int EncodedSize => (Fragments > 1 ? FragmentHeaderSize : HeaderSize) + Data.Length;

    /// <summary>The bytes every fragment but the last carries.</summary>
    public static int FragmentSize(long total, int fragments) => (int)((total + fragments - 1) / fragments);

    public byte Channel { get; } = channel;

    public DeliveryMode Mode { get; } = mode;

    public uint MessageId { get; } = messageId;

    public uint Sequence { get; } = sequence;

    public ushort Fragment { get; } = fragment;

    public ushort Fragments { get; } = fragments;

    public ReadOnlySpan<byte> Data { get; } = data;
}

/// <summary>One acknowledged range of packet numbers, <c>[First, Last]</c>.</summary>
internal readonly record struct AckRange(uint First, uint Last);
