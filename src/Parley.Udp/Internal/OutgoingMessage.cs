using System.Buffers;

namespace Parley.Udp;

/// <summary>
/// A message from <c>Send</c> until it is final. Pooled per peer: <see cref="Version"/> changes
/// on every reuse, so references held by old sent-packet records (<see cref="FragmentRef"/>) can
/// tell they are stale. The payload lives in a pooled buffer that goes back as soon as the peer
/// has received every fragment; the record stays until the delivered confirmation.
/// </summary>
internal sealed class OutgoingMessage
{
    public uint Id;
    public byte Channel;
    public DeliveryMode Mode;
    public uint Sequence;
    public MessageState State;
    public int Version;

    public byte[]? Buffer;
    public int Length;

    /// <summary>Fixed when the first fragment goes out (the packet size may grow later).</summary>
    public ushort Fragments;
    public int FragmentSize;

    /// <summary>Fragments not yet sent even once start here.</summary>
    public ushort NextFragment;
    public int AckedFragments;
    public byte[]? Acked;

    public long QueuedAt;
    public long FirstSentAt;
    public int Retransmits;
    public long ReceivedAt;

    public bool IsReliable => Mode != DeliveryMode.Unreliable;

    public ReadOnlySpan<byte> FragmentData(int fragment)
    {
        int offset = fragment * FragmentSize;
        return Buffer.AsSpan(offset, Math.Min(FragmentSize, Length - offset));
    }

    public bool IsAcked(int fragment) => Fragments == 1 ? AckedFragments == 1 : Acked![fragment] != 0;

    /// <summary>Marks a fragment acknowledged; true when that completes the message.</summary>
    public bool MarkAcked(int fragment)
    {
        if (Fragments == 1)
        {
            if (AckedFragments == 1)
            {
                return false;
            }
        }
        else
        {
            if (Acked![fragment] != 0)
            {
                return false;
            }

            Acked[fragment] = 1;
        }

        return ++AckedFragments == Fragments;
    }

    /// <summary>Fixes the fragmentation for a payload capacity (data bytes per fragment at most).</summary>
    public void Fragment(int maxFragmentData, int maxSingleData)
    {
        if (Length <= maxSingleData)
        {
            Fragments = 1;
            FragmentSize = Math.Max(1, Length);
            return;
        }

        int count = (Length + maxFragmentData - 1) / maxFragmentData;
        Fragments = (ushort)count;
        FragmentSize = MessageFrame.FragmentSize(Length, count);
        Acked = ArrayPool<byte>.Shared.Rent(count);
        Acked.AsSpan(0, count).Clear();
    }

    public void ReleasePayload(BufferStore store)
    {
        if (Buffer is not null)
        {
            store.Return(Buffer);
            Buffer = null;
        }

        if (Acked is not null)
        {
            ArrayPool<byte>.Shared.Return(Acked);
            Acked = null;
        }
    }

    public void Reset(BufferStore store)
    {
        ReleasePayload(store);
        Version++;
        State = MessageState.Unknown;
        Fragments = 0;
        NextFragment = 0;
        AckedFragments = 0;
        Retransmits = 0;
        Length = 0;
    }
}

/// <summary>A reference to one fragment of a message, valid while the message's version is unchanged.</summary>
internal readonly record struct FragmentRef(OutgoingMessage Message, int Version, ushort Fragment)
{
    public bool IsLive => Message.Version == Version && Message.State is MessageState.Queued or MessageState.Sent && !Message.IsAcked(Fragment);
}
