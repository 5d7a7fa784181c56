namespace Parley.Chat;

/// <summary>One stored chat message as history returns it.</summary>
internal sealed record HistoryEntry(long Id, DateTimeOffset Timestamp, string User, string Content)
{
    private int _encodedSize;

    /// <summary>Records the size found while encoding the message for delivery (before the entry is shared),
    /// so the history budget needs no second encoding per message.</summary>
    public void KnowEncodedSize(int size) => _encodedSize = size;

    /// <summary>The bytes this message takes in a <c>history</c> event, measured once (entries never change).</summary>
    public int EncodedSize
    {
        get
        {
            int size = Volatile.Read(ref _encodedSize);
            if (size == 0)
            {
                // Two threads may both measure; they get the same figure.
                size = Events.MeasureMessage(this);
                Volatile.Write(ref _encodedSize, size);
            }

            return size;
        }
    }
}
