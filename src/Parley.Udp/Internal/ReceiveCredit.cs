namespace Parley.Udp;

/// <summary>
/// Flow control, receiving side: reliable bytes that arrived (first copies; a reassembly at its
/// declared size when it starts) less those the application consumed (its handler returned) may
/// not exceed the receive window. Messages that wait hold more than their bytes (a pooled buffer
/// rounded up and an entry): an ordered one waiting for an earlier one is charged that against
/// the window too; one queued for the application's handler against a second budget of one
/// window. So the number of messages held stays proportional to the window, whatever their size.
/// The window is advertised as a limit (consumed + window, mod 2^32) in Window frames, again once
/// a quarter of it was consumed. Not thread-safe (the host's lock).
/// </summary>
internal sealed class ReceiveCredit(int windowBytes)
{
    // What one waiting message costs beyond its buffer: its table or queue entry (about 36 bytes,
    // twice that while the table grows) and the buffer's object header.
    private const int EntryOverhead = 96;

    private uint _arrived;
    private uint _consumed;
    private uint _advertised = (uint)windowBytes;

    public int WindowBytes { get; } = windowBytes;

    /// <summary>A Window frame should go out (a quarter of the window was consumed since the last one).</summary>
    public bool WindowUpdateDue { get; private set; }

    /// <summary>Bytes of complete ordered messages waiting for an earlier one.</summary>
    public long WaitingBytes { get; private set; }

    /// <summary>What the waiting messages hold beyond their data.</summary>
    public long WaitingExtraBytes { get; private set; }

    /// <summary>What the messages queued for the application hold beyond their data.</summary>
    public long QueuedExtraBytes { get; private set; }

    /// <summary>Bytes that arrived and were not consumed yet.</summary>
    public long Unconsumed => (uint)(_arrived - _consumed);

    /// <summary>
    /// What a message of <paramref name="length"/> bytes held in a pooled buffer and an entry costs
    /// beyond its data. Also charged for a message queued in the event queue's data block, which
    /// holds less (its bytes, and the block's doubling slack, bounded by the same charge).
    /// </summary>
    public static int ExtraFor(int length) => BufferStore.SizeOf(Math.Max(1, length)) - length + EntryOverhead;

    /// <summary>
    /// True when a message that charges <paramref name="charge"/> bytes fits the window;
    /// <paramref name="waits"/>: it is a whole ordered message that must wait for an earlier one
    /// (<paramref name="length"/> bytes), so what waiting holds is charged as well.
    /// </summary>
    public bool Admits(long charge, bool waits, int length)
    {
        long held = Unconsumed + charge;
        if (waits)
        {
            return held + WaitingExtraBytes + ExtraFor(length) <= (uint)WindowBytes;
        }

        // What the application's queue holds beyond its data has a budget of its own, one window:
        // an honest sender within its credit is refused only when the application falls that far
        // behind with small messages (a packet's worth of empty messages is about 74 KB of it).
        return held <= (uint)WindowBytes && QueuedExtraBytes + ExtraFor(length) <= (uint)WindowBytes;
    }

    /// <summary>A message's charge was taken (its first copy arrived, or a reassembly started).</summary>
    public void OnArrived(long charge) => _arrived += (uint)charge;

    /// <summary>A whole ordered message of <paramref name="length"/> bytes in a buffer of <paramref name="bufferLength"/> waits for an earlier one.</summary>
    public void OnWaiting(int length, int bufferLength)
    {
        WaitingBytes += length;
        WaitingExtraBytes += bufferLength - length + EntryOverhead;
    }

    /// <summary>A waiting message's turn came (or the session ended).</summary>
    public void OnWaitingDone(int length, int bufferLength)
    {
        WaitingBytes -= length;
        WaitingExtraBytes -= bufferLength - length + EntryOverhead;
    }

    /// <summary>A message went into the queue of events for the application, holding <paramref name="extra"/> beyond its data.</summary>
    public void OnQueued(int extra) => QueuedExtraBytes += extra;

    /// <summary>The application consumed a queued message of <paramref name="bytes"/> (its handler returned): the credit comes back.</summary>
    public void OnConsumed(int bytes, int extra)
    {
        QueuedExtraBytes -= extra;
        _consumed += (uint)bytes;
        if (_consumed + (uint)WindowBytes - _advertised >= (uint)WindowBytes / 4)
        {
            WindowUpdateDue = true;
        }
    }

    /// <summary>Writes the Window frame (the limit: consumed + window) if it fits.</summary>
    public void WriteWindow(ref FrameWriter writer)
    {
        uint limit = _consumed + (uint)WindowBytes;
        if (writer.TryWriteWindow(limit))
        {
            _advertised = limit;
            WindowUpdateDue = false;
        }
    }

    /// <summary>The waiting messages were let go (the session ended).</summary>
    public void ClearWaiting()
    {
        WaitingBytes = 0;
        WaitingExtraBytes = 0;
    }
}
