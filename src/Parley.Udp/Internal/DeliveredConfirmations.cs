namespace Parley.Udp;

/// <summary>
/// The receiving side's delivered confirmations for one session: ids of reliable messages the
/// application consumed, as runs of consecutive ids (one ordered stream makes one run, one
/// Delivered entry for many messages). New ones ride with the next packet that goes anyway —
/// the acknowledgement of the packet that brought the messages, under the same delayed-ack
/// policy — so a stream gets one confirmation packet per ack, not one per message; ones whose
/// packet was lost go again at once (<see cref="ResendDue"/>). Each written run is logged as an
/// item of its packet, so loss recovery can hand it back. Not thread-safe (the host's lock).
/// </summary>
internal sealed class DeliveredConfirmations
{
    private const int MaxRunsPerFrame = 64;
    private readonly Queue<DeliveredRun> _toSend = new();
    private DeliveredRun _open; // the run the next consumed id may extend (Count 0: none)

    /// <summary>Confirmations whose packet was lost are waiting: a packet should go now for them.</summary>
    public bool ResendDue { get; private set; }

    /// <summary>Runs not written yet (the open one included).</summary>
    public int Waiting => _toSend.Count + (_open.Count > 0 ? 1 : 0);

    /// <summary>The application consumed message <paramref name="id"/>: it joins the open run when it follows it.</summary>
    public void Confirm(uint id)
    {
        if (_open.Count > 0 && id == _open.First + (uint)_open.Count && _open.Count < DeliveredRun.MaxCount)
        {
            _open = _open with { Count = _open.Count + 1 };
            return;
        }

        if (_open.Count > 0)
        {
            _toSend.Enqueue(_open);
        }

        _open = new DeliveredRun(id, 1);
    }

    /// <summary>A packet carrying <paramref name="run"/> was lost: it goes again, at once.</summary>
    public void OnLost(DeliveredRun run)
    {
        _toSend.Enqueue(run);
        ResendDue = true;
    }

    /// <summary>Writes every waiting run that fits (Delivered frames of up to 64 runs), logging each in <paramref name="log"/>; true when any was written.</summary>
    public bool Write(ref FrameWriter writer, SentPacketLog log)
    {
        if (_open.Count > 0)
        {
            _toSend.Enqueue(_open);
            _open = default;
        }

        bool wrote = false;
        Span<DeliveredRun> runs = stackalloc DeliveredRun[MaxRunsPerFrame];
        while (_toSend.Count > 0)
        {
            int count = Math.Min(Math.Min(runs.Length, _toSend.Count), (writer.Remaining - 2) / DeliveredRun.EncodedSize);
            if (count <= 0)
            {
                break;
            }

            for (int i = 0; i < count; i++)
            {
                runs[i] = _toSend.Dequeue();
                log.AddItem(new SentItem { Delivered = runs[i] });
            }

            writer.TryWriteDelivered(runs[..count]);
            wrote = true;
        }

        ResendDue &= _toSend.Count > 0;
        return wrote;
    }

    /// <summary>Forgets everything and lets the memory go (the session ended).</summary>
    public void Release()
    {
        _toSend.Clear();
        _toSend.TrimExcess();
        _open = default;
        ResendDue = false;
    }
}
