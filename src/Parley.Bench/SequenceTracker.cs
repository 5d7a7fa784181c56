namespace Parley.Bench;

/// <summary>What one arrival meant for its sender's sequence at one receiver.</summary>
internal enum Arrival
{
    InOrder,
    AfterGap,
    Reordered,
    Duplicate,
}

/// <summary>
/// Follows one sender's numbered messages (0, 1, 2, …) at one receiver in 8 bytes, so a
/// receiver can keep one per sender even at thousands of clients.
/// </summary>
/// <remarks>
/// A gap is remembered as a count of missing numbers: a late arrival while a gap is open is
/// reordered (and fills the gap); one with no gap open is a duplicate. Exact for in-order
/// streams, gaps and late fills; a duplicate of a late fill would be taken for another fill.
/// Not thread-safe: one receiver's handler owns its trackers.
/// </remarks>
internal struct SequenceTracker
{
    private int _next;
    private int _missing;

    /// <summary>A tracker for a stream first seen at <paramref name="sequence"/> (a receiver that joined late).</summary>
    public static SequenceTracker StartingAt(int sequence) => new() { _next = sequence };

    public Arrival Record(int sequence)
    {
        if (sequence == _next)
        {
            _next++;
            return Arrival.InOrder;
        }

        if (sequence > _next)
        {
            _missing += sequence - _next;
            _next = sequence + 1;
            return Arrival.AfterGap;
        }

        if (_missing > 0)
        {
            _missing--;
            return Arrival.Reordered;
        }

        return Arrival.Duplicate;
    }

    /// <summary>Messages never received, given that the sender sent <paramref name="sent"/> of them.</summary>
    public readonly long Lost(int sent) => _missing + (long)Math.Max(0, sent - _next);
}
