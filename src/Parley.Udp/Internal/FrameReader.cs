using System.Buffers.Binary;

namespace Parley.Udp;

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
