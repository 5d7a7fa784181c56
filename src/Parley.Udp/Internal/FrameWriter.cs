using System.Buffers.Binary;

namespace Parley.Udp;

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
    public bool TryWriteClose(CloseReason reason)
    {
        if (!TryStart(FrameType.Close, 1, out Span<byte> d))
        {
            return false;
        }

        d[0] = CloseCodes.ToWire(reason);
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
