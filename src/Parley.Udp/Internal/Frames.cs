using System.Buffers.Binary;

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

    /// <summary>The session ends: a reason code (<see cref="DisconnectReason"/>). Sealed like every frame, so no one else can end a session.</summary>
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

/// <summary>Writes frames into a payload buffer.</summary>
internal ref struct FrameWriter(Span<byte> destination)
{
    /// <summary>A <see cref="FrameType.MessageRun"/> header: type, channel, mode, first id, first sequence, count.</summary>
    public const int RunHeaderSize = 1 + 1 + 1 + 4 + 4 + 1;

    public const int RunItemHeaderSize = 2;

    private readonly Span<byte> _destination = destination;

    // The last message run written: where its count byte is and where it ends. The next consecutive
    // message of its channel joins it only while nothing else was written after it.
    private int _runAt = -1;
    private int _runEnd = -1;
    private byte _runChannel;
    private DeliveryMode _runMode;
    private uint _runNextId;
    private uint _runNextSequence;

    public int Written { get; private set; }

    public readonly int Remaining => _destination.Length - Written;

    /// <summary>
    /// Writes a message or fragment. A whole message joins the open run when it follows its last
    /// one (same channel and mode, next id and, if reliable, next sequence), else opens a run;
    /// fragments go in <see cref="FrameType.Message"/> frames.
    /// </summary>
    public bool TryWriteMessage(scoped in MessageFrame frame)
    {
        if (frame.Data.Length > ushort.MaxValue)
        {
            return false;
        }

        bool reliable = frame.Mode != DeliveryMode.Unreliable;
        if (frame.Fragments == 1)
        {
            int item = RunItemHeaderSize + frame.Data.Length;
            if (_runEnd == Written && _destination[_runAt] < byte.MaxValue && frame.Channel == _runChannel && frame.Mode == _runMode
                && frame.MessageId == _runNextId && (!reliable || frame.Sequence == _runNextSequence) && Remaining >= item)
            {
                _destination[_runAt]++;
            }
            else
            {
                if (Remaining < RunHeaderSize + item)
                {
                    return false;
                }

                Span<byte> h = _destination[Written..];
                h[0] = (byte)FrameType.MessageRun;
                h[1] = frame.Channel;
                h[2] = (byte)frame.Mode;
                BinaryPrimitives.WriteUInt32LittleEndian(h[3..], frame.MessageId);
                BinaryPrimitives.WriteUInt32LittleEndian(h[7..], reliable ? frame.Sequence : 0);
                h[11] = 1;
                _runAt = Written + 11;
                _runChannel = frame.Channel;
                _runMode = frame.Mode;
                Written += RunHeaderSize;
            }

            _runNextId = frame.MessageId + 1;
            _runNextSequence = frame.Sequence + 1;
            Span<byte> d = _destination[Written..];
            BinaryPrimitives.WriteUInt16LittleEndian(d, (ushort)frame.Data.Length);
            frame.Data.CopyTo(d[RunItemHeaderSize..]);
            Written += item;
            _runEnd = Written;
            return true;
        }

        int size = frame.EncodedSize;
        if (Remaining < size)
        {
            return false;
        }

        Span<byte> m = _destination[Written..];
        m[0] = (byte)FrameType.Message;
        m[1] = frame.Channel;
        m[2] = (byte)frame.Mode;
        BinaryPrimitives.WriteUInt32LittleEndian(m[3..], frame.MessageId);
        BinaryPrimitives.WriteUInt32LittleEndian(m[7..], frame.Sequence);
        BinaryPrimitives.WriteUInt16LittleEndian(m[11..], frame.Fragment);
        BinaryPrimitives.WriteUInt16LittleEndian(m[13..], frame.Fragments);
        BinaryPrimitives.WriteUInt16LittleEndian(m[15..], (ushort)frame.Data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(m[MessageFrame.HeaderSize..], frame.TotalLength);
        frame.Data.CopyTo(m[MessageFrame.FragmentHeaderSize..]);
        Written += size;
        return true;
    }

    /// <summary>Ranges newest first, not overlapping; at most 255.</summary>
    public bool TryWriteAck(scoped ReadOnlySpan<AckRange> ranges, ushort delayHundredMicros)
    {
        int size = 1 + 2 + 1 + (ranges.Length * 8);
        if (ranges.Length is 0 or > 255 || Remaining < size)
        {
            return false;
        }

        Span<byte> d = _destination[Written..];
        d[0] = (byte)FrameType.Ack;
        BinaryPrimitives.WriteUInt16LittleEndian(d[1..], delayHundredMicros);
        d[3] = (byte)ranges.Length;
        for (int i = 0; i < ranges.Length; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(d[(4 + (i * 8))..], ranges[i].First);
            BinaryPrimitives.WriteUInt32LittleEndian(d[(8 + (i * 8))..], ranges[i].Last);
        }

        Written += size;
        return true;
    }

    /// <summary>Runs of consumed message ids; at most 255, each of at most <see cref="DeliveredRun.MaxCount"/>.</summary>
    public bool TryWriteDelivered(scoped ReadOnlySpan<DeliveredRun> runs)
    {
        int size = 2 + (runs.Length * DeliveredRun.EncodedSize);
        if (runs.Length is 0 or > 255 || Remaining < size)
        {
            return false;
        }

        Span<byte> d = _destination[Written..];
        d[0] = (byte)FrameType.Delivered;
        d[1] = (byte)runs.Length;
        for (int i = 0; i < runs.Length; i++)
        {
            Span<byte> entry = d[(2 + (i * DeliveredRun.EncodedSize))..];
            BinaryPrimitives.WriteUInt32LittleEndian(entry, runs[i].First);
            BinaryPrimitives.WriteUInt16LittleEndian(entry[4..], (ushort)(runs[i].Count - 1));
        }

        Written += size;
        return true;
    }

    public bool TryWriteHeartbeat(long timestampMicros, long echoMicros)
    {
        if (!TryStart(FrameType.Heartbeat, 16, out Span<byte> d))
        {
            return false;
        }

        BinaryPrimitives.WriteInt64LittleEndian(d, timestampMicros);
        BinaryPrimitives.WriteInt64LittleEndian(d[8..], echoMicros);
        return true;
    }

    public bool TryWriteWindow(uint creditBytes)
    {
        if (!TryStart(FrameType.Window, 4, out Span<byte> d))
        {
            return false;
        }

        BinaryPrimitives.WriteUInt32LittleEndian(d, creditBytes);
        return true;
    }

    public bool TryWriteNack(uint firstMissing, ushort count)
    {
        if (!TryStart(FrameType.Nack, 6, out Span<byte> d))
        {
            return false;
        }

        BinaryPrimitives.WriteUInt32LittleEndian(d, firstMissing);
        BinaryPrimitives.WriteUInt16LittleEndian(d[4..], count);
        return true;
    }

    /// <summary>Ends the session, for <paramref name="reason"/>.</summary>
    public bool TryWriteClose(DisconnectReason reason)
    {
        if (!TryStart(FrameType.Close, 1, out Span<byte> d))
        {
            return false;
        }

        d[0] = (byte)reason;
        return true;
    }

    /// <summary>A path challenge (<see cref="FrameType.PathChallenge"/>) or its answer (<see cref="FrameType.PathResponse"/>).</summary>
    public bool TryWritePathFrame(FrameType type, ulong token)
    {
        if (!TryStart(type, 8, out Span<byte> d))
        {
            return false;
        }

        BinaryPrimitives.WriteUInt64LittleEndian(d, token);
        return true;
    }

    /// <summary>Pads the rest of the buffer (a Hello or Probe reaching a given size).</summary>
    public void Pad()
    {
        _destination[Written..].Clear();
        Written = _destination.Length;
    }

    /// <summary>Writes the type byte and hands out the body of a fixed-size frame.</summary>
    private bool TryStart(FrameType type, int bodySize, out Span<byte> body)
    {
        if (Remaining < 1 + bodySize)
        {
            body = default;
            return false;
        }

        _destination[Written] = (byte)type;
        body = _destination.Slice(Written + 1, bodySize);
        Written += 1 + bodySize;
        return true;
    }
}

/// <summary>Reads the frames of a payload one by one. Never throws: malformed input ends the read with <see cref="Malformed"/> set.</summary>
internal ref struct FrameReader(ReadOnlySpan<byte> payload)
{
    private readonly ReadOnlySpan<byte> _payload = payload;
    private int _offset;

    // The message run being read: messages left, and the next one's id and sequence.
    private int _runLeft;
    private byte _runChannel;
    private DeliveryMode _runMode;
    private uint _runId;
    private uint _runSequence;

    public bool Malformed { get; private set; }

    public FrameType Type { get; private set; }

    public MessageFrame Message { get; private set; }

    public ushort AckDelay { get; private set; }

    /// <summary>The raw ranges of an Ack frame: read with <see cref="AckRangeAt"/>.</summary>
    public int AckRangeCount { get; private set; }

    public int DeliveredCount { get; private set; }

    public long Timestamp { get; private set; }

    public long Echo { get; private set; }

    public uint Value { get; private set; }

    public ushort Count { get; private set; }

    /// <summary>A path frame's 8 bytes.</summary>
    public ulong Token { get; private set; }

    private ReadOnlySpan<byte> _body;

    public readonly AckRange AckRangeAt(int index) => new(
        BinaryPrimitives.ReadUInt32LittleEndian(_body[(index * 8)..]),
        BinaryPrimitives.ReadUInt32LittleEndian(_body[((index * 8) + 4)..]));

    public readonly DeliveredRun DeliveredAt(int index) => new(
        BinaryPrimitives.ReadUInt32LittleEndian(_body[(index * DeliveredRun.EncodedSize)..]),
        BinaryPrimitives.ReadUInt16LittleEndian(_body[((index * DeliveredRun.EncodedSize) + 4)..]) + 1);

    /// <summary>The next frame; false at the end or when the rest is malformed.</summary>
    public bool TryReadNext()
    {
        if (Malformed)
        {
            return false;
        }

        if (_runLeft > 0)
        {
            return ReadRunItem();
        }

        if (_offset >= _payload.Length)
        {
            return false;
        }

        ReadOnlySpan<byte> d = _payload[_offset..];
        Type = (FrameType)d[0];
        switch (Type)
        {
            case FrameType.MessageRun:
                if (d.Length < FrameWriter.RunHeaderSize || d[2] > (byte)DeliveryMode.ReliableOrdered || d[11] == 0)
                {
                    return Fail();
                }

                _runChannel = d[1];
                _runMode = (DeliveryMode)d[2];
                _runId = BinaryPrimitives.ReadUInt32LittleEndian(d[3..]);
                _runSequence = BinaryPrimitives.ReadUInt32LittleEndian(d[7..]);
                _runLeft = d[11];
                _offset += FrameWriter.RunHeaderSize;
                return ReadRunItem();
            case FrameType.Padding:
                _offset = _payload.Length;
                return false;
            case FrameType.Message:
                if (d.Length < MessageFrame.HeaderSize)
                {
                    return Fail();
                }

                int length = BinaryPrimitives.ReadUInt16LittleEndian(d[15..]);
                ushort fragment = BinaryPrimitives.ReadUInt16LittleEndian(d[11..]);
                ushort fragments = BinaryPrimitives.ReadUInt16LittleEndian(d[13..]);
                int header = fragments > 1 ? MessageFrame.FragmentHeaderSize : MessageFrame.HeaderSize;
                if (d.Length < header + length || d[2] > (byte)DeliveryMode.ReliableOrdered || fragments == 0 || fragment >= fragments)
                {
                    return Fail();
                }

                uint total = fragments > 1 ? BinaryPrimitives.ReadUInt32LittleEndian(d[MessageFrame.HeaderSize..]) : (uint)length;
                if (fragments > 1 && !FragmentFits(total, fragment, fragments, length))
                {
                    return Fail();
                }

                Message = new MessageFrame(d[1], (DeliveryMode)d[2], BinaryPrimitives.ReadUInt32LittleEndian(d[3..]), BinaryPrimitives.ReadUInt32LittleEndian(d[7..]), fragment, fragments, d.Slice(header, length), total);
                _offset += header + length;
                return true;
            case FrameType.Ack:
                if (d.Length < 4 || d[3] == 0 || d.Length < 4 + (d[3] * 8))
                {
                    return Fail();
                }

                AckDelay = BinaryPrimitives.ReadUInt16LittleEndian(d[1..]);
                AckRangeCount = d[3];
                _body = d.Slice(4, AckRangeCount * 8);
                for (int i = 0; i < AckRangeCount; i++)
                {
                    AckRange range = AckRangeAt(i);
                    if ((int)(range.Last - range.First) < 0)
                    {
                        return Fail(); // last before first (low 32 bits: a range may cross 2^32, but spans under 2^31)
                    }
                }

                _offset += 4 + (AckRangeCount * 8);
                return true;
            case FrameType.Delivered:
                if (d.Length < 2 || d[1] == 0 || d.Length < 2 + (d[1] * DeliveredRun.EncodedSize))
                {
                    return Fail();
                }

                DeliveredCount = d[1];
                _body = d.Slice(2, DeliveredCount * DeliveredRun.EncodedSize);
                _offset += 2 + (DeliveredCount * DeliveredRun.EncodedSize);
                return true;
            case FrameType.Heartbeat:
                if (d.Length < 17)
                {
                    return Fail();
                }

                Timestamp = BinaryPrimitives.ReadInt64LittleEndian(d[1..]);
                Echo = BinaryPrimitives.ReadInt64LittleEndian(d[9..]);
                _offset += 17;
                return true;
            case FrameType.Window:
                if (d.Length < 5)
                {
                    return Fail();
                }

                Value = BinaryPrimitives.ReadUInt32LittleEndian(d[1..]);
                _offset += 5;
                return true;
            case FrameType.Nack:
                if (d.Length < 7)
                {
                    return Fail();
                }

                Value = BinaryPrimitives.ReadUInt32LittleEndian(d[1..]);
                Count = BinaryPrimitives.ReadUInt16LittleEndian(d[5..]);
                _offset += 7;
                return true;
            case FrameType.Close:
                if (d.Length < 2)
                {
                    return Fail();
                }

                Value = d[1];
                _offset += 2;
                return true;
            case FrameType.PathChallenge or FrameType.PathResponse:
                if (d.Length < 9)
                {
                    return Fail();
                }

                Token = BinaryPrimitives.ReadUInt64LittleEndian(d[1..]);
                _offset += 9;
                return true;
            default:
                return Fail();
        }
    }

    // The next message of the run: u16 length · bytes; its id and sequence follow the previous one's.
    private bool ReadRunItem()
    {
        ReadOnlySpan<byte> d = _payload[_offset..];
        if (d.Length < FrameWriter.RunItemHeaderSize)
        {
            return Fail();
        }

        int length = BinaryPrimitives.ReadUInt16LittleEndian(d);
        if (d.Length < FrameWriter.RunItemHeaderSize + length)
        {
            return Fail();
        }

        Type = FrameType.Message;
        Message = new MessageFrame(_runChannel, _runMode, _runId, _runMode == DeliveryMode.Unreliable ? 0 : _runSequence, 0, 1, d.Slice(FrameWriter.RunItemHeaderSize, length));
        _runId++;
        _runSequence++;
        _runLeft--;
        _offset += FrameWriter.RunItemHeaderSize + length;
        return true;
    }

    // A fragment's length must be exactly what its place in a message of that total implies, and
    // the message must not be cut finer than the minimum fragment size.
    private static bool FragmentFits(uint total, ushort fragment, ushort fragments, int length)
    {
        long size = MessageFrame.FragmentSize(total, fragments);
        long offset = size * fragment;
        return size >= MessageFrame.MinFragmentSize && offset < total && length == Math.Min(size, total - offset);
    }

    private bool Fail()
    {
        Malformed = true;
        return false;
    }
}
