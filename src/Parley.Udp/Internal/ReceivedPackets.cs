namespace Parley.Udp;

/// <summary>
/// The packet numbers received from one peer, as ranges, for acknowledgements and duplicate
/// detection. Bounded: at most <see cref="MaxRanges"/> ranges are kept; when more gaps than that
/// are open, the oldest ranges are folded into a floor below which every number counts as
/// received. That is safe because a retransmission always travels in a new packet number: a
/// late original below the floor is dropped as a duplicate and its data arrives again anyway.
/// Not thread-safe.
/// </summary>
internal sealed class ReceivedPackets(int maxRanges = ReceivedPackets.DefaultMaxRanges)
{
    /// <summary>Full (64-bit) packet numbers <c>[First, Last]</c>; the wire carries their low 32 bits.</summary>
    private readonly record struct PacketRange(long First, long Last);

    public const int DefaultMaxRanges = 64;

    // Ascending, non-overlapping, non-adjacent.
    private readonly List<PacketRange> _ranges = [];

    /// <summary>Every number below this counts as received.</summary>
    public long Floor { get; private set; }

    public int MaxRanges { get; } = maxRanges;

    public int RangeCount => _ranges.Count;

    /// <summary>Records <paramref name="number"/>; false when it was received before (a duplicate).</summary>
    public bool Record(long number)
    {
        if (number < Floor)
        {
            return false;
        }

        int index = FindInsertion(number);
        if (index > 0 && _ranges[index - 1].Last >= number)
        {
            return false; // inside the range before
        }

        bool joinsPrevious = index > 0 && _ranges[index - 1].Last + 1 == number;
        bool joinsNext = index < _ranges.Count && _ranges[index].First == number + 1;
        if (joinsPrevious && joinsNext)
        {
            _ranges[index - 1] = new PacketRange(_ranges[index - 1].First, _ranges[index].Last);
            _ranges.RemoveAt(index);
        }
        else if (joinsPrevious)
        {
            _ranges[index - 1] = _ranges[index - 1] with { Last = number };
        }
        else if (joinsNext)
        {
            _ranges[index] = _ranges[index] with { First = number };
        }
        else
        {
            _ranges.Insert(index, new PacketRange(number, number));
            while (_ranges.Count > MaxRanges)
            {
                Floor = _ranges[0].Last + 1;
                _ranges.RemoveAt(0);
            }
        }

        return true;
    }

    /// <summary>True when <paramref name="number"/> was recorded (or lies below the floor).</summary>
    public bool Contains(long number)
    {
        if (number < Floor)
        {
            return true;
        }

        int index = FindInsertion(number);
        return index > 0 && _ranges[index - 1].Last >= number;
    }

    /// <summary>The lowest missing number above the floor that something newer was received after, and how many follow it missing.</summary>
    public bool TryGetLowestGap(out long first, out long count)
    {
        first = count = 0;
        if (_ranges.Count == 0)
        {
            return false;
        }

        if (_ranges[0].First > Floor)
        {
            first = Floor;
            count = _ranges[0].First - Floor;
            return true;
        }

        if (_ranges.Count < 2)
        {
            return false;
        }

        first = _ranges[0].Last + 1;
        count = _ranges[1].First - first;
        return true;
    }

    /// <summary>Writes up to <paramref name="destination"/>.Length ranges, newest first, as the wire's low 32 bits; returns how many.</summary>
    public int WriteRanges(Span<AckRange> destination)
    {
        int count = Math.Min(destination.Length, _ranges.Count);
        for (int i = 0; i < count; i++)
        {
            PacketRange range = _ranges[_ranges.Count - 1 - i];
            destination[i] = new AckRange((uint)range.First, (uint)range.Last);
        }

        return count;
    }

    /// <summary>Forgets everything and counts every number below <paramref name="floor"/> as received (tests start sessions near the 32-bit wrap).</summary>
    public void Reset(long floor)
    {
        _ranges.Clear();
        Floor = floor;
    }

    // The index of the first range starting after number.
    private int FindInsertion(long number)
    {
        int low = 0, high = _ranges.Count;
        while (low < high)
        {
            int middle = (low + high) / 2;
            if (_ranges[middle].First <= number)
            {
                low = middle + 1;
            }
            else
            {
                high = middle;
            }
        }

        return low;
    }
}
