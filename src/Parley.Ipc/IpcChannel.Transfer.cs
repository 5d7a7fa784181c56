using System.Diagnostics;

namespace Parley.Ipc;

public sealed unsafe partial class IpcChannel
{
    private const long SleepSliceMicros = 1_000_000; // a sleeping side re-checks at least once a second

    /// <summary>
    /// Appends one message if the ring has room now. Never waits.
    /// </summary>
    /// <returns>False when the ring is full (the reader is behind).</returns>
    /// <exception cref="ArgumentException">The message is larger than <see cref="MaxMessageSize"/>.</exception>
    /// <exception cref="IpcException">The channel has ended (<see cref="IpcException.Reason"/> says why).</exception>
    public bool TryWrite(ReadOnlySpan<byte> message)
    {
        CheckSize(message.Length);
        if (!EnterCall())
        {
            ThrowClosed();
        }

        try
        {
            return TryWriteCore(message);
        }
        finally
        {
            ExitCall();
        }
    }

    /// <summary>
    /// Appends one message, waiting (by <see cref="WaitStrategy"/>) while the ring is full.
    /// </summary>
    /// <exception cref="ArgumentException">The message is larger than <see cref="MaxMessageSize"/>.</exception>
    /// <exception cref="IpcException">The channel has ended, or ends while waiting.</exception>
    public void Write(ReadOnlySpan<byte> message)
    {
        CheckSize(message.Length);
        if (!EnterCall())
        {
            ThrowClosed();
        }

        try
        {
            var wait = new Waiter(this, _myWaitingForSpace);
            while (!TryWriteCore(message))
            {
                wait.Once();
            }

            wait.Disarm();
        }
        finally
        {
            ExitCall();
        }
    }

    /// <summary>
    /// The next message if one is waiting. The span points into the ring and is valid until the
    /// next read call or <see cref="Dispose"/>.
    /// </summary>
    /// <returns>False when no message is waiting now, or the peer closed and everything was read.</returns>
    /// <exception cref="IpcException">The channel ended other than by the peer closing it, or the ring is corrupt.</exception>
    public bool TryRead(out ReadOnlySpan<byte> message)
    {
        if (!EnterCall())
        {
            ThrowClosed();
        }

        try
        {
            if (TryReadCore(out message))
            {
                return true;
            }

            if (ReadEnded())
            {
                return EndOfStream(out message);
            }

            return false;
        }
        finally
        {
            ExitCall();
        }
    }

    /// <summary>
    /// The next message, waiting (by <see cref="WaitStrategy"/>) until one arrives. The span
    /// points into the ring and is valid until the next read call or <see cref="Dispose"/>.
    /// </summary>
    /// <returns>False once the peer has closed and every message it wrote was read.</returns>
    /// <exception cref="IpcException">This side closed, the peer died, or the ring is corrupt (<see cref="IpcException.Reason"/>).</exception>
    public bool Read(out ReadOnlySpan<byte> message)
    {
        if (!EnterCall())
        {
            ThrowClosed();
        }

        try
        {
            var wait = new Waiter(this, _myWaitingForData);
            while (!TryReadCore(out message))
            {
                if (ReadEnded())
                {
                    wait.Disarm();
                    return EndOfStream(out message);
                }

                wait.Once();
            }

            wait.Disarm();
            return true;
        }
        finally
        {
            ExitCall();
        }
    }

    /// <summary>Whether a read would find a message (or the end) now; for readiness loops.</summary>
    internal bool HasInput()
    {
        if (!EnterCall())
        {
            return true; // closed: the read that follows reports it
        }

        try
        {
            return _partialLength > 0 || _reader.Peek() || ReadEnded();
        }
        finally
        {
            ExitCall();
        }
    }

    /// <summary>Whether a stream write could take something now (or would fail because the channel ended).</summary>
    internal bool HasRoom()
    {
        if (!EnterCall())
        {
            return true; // closed: the write that follows reports it
        }

        try
        {
            return _writer.CanTakeSome() || WriteEnded();
        }
        finally
        {
            ExitCall();
        }
    }

    /// <summary>
    /// The byte-stream read of the stream transport: copies from the current record (records
    /// are chunks of one byte stream there). Returns the bytes copied, 0 when nothing is waiting,
    /// −1 at the end of the peer's stream.
    /// </summary>
    internal int TryReadBytes(Span<byte> destination)
    {
        if (!EnterCall())
        {
            ThrowClosed();
        }

        try
        {
            if (_partialLength == 0)
            {
                if (!TryReadCore(out ReadOnlySpan<byte> record))
                {
                    if (!ReadEnded())
                    {
                        return 0;
                    }

                    if (!EndOfStream(out record))
                    {
                        return -1;
                    }
                }

                if (record.IsEmpty)
                {
                    return 0; // an empty record carries nothing in a byte stream
                }

                fixed (byte* start = record)
                {
                    _partial = start; // stays mapped and unreleased until the record is used up
                }

                _partialLength = record.Length;
            }

            int length = Math.Min(destination.Length, _partialLength);
            new ReadOnlySpan<byte>(_partial, length).CopyTo(destination);
            _partial += length;
            _partialLength -= length;
            return length;
        }
        finally
        {
            ExitCall();
        }
    }

    /// <summary>The byte-stream write of the stream transport: as much as fits now as one record. Returns the bytes taken.</summary>
    internal int TryWriteBytes(ReadOnlySpan<byte> bytes)
    {
        if (!EnterCall())
        {
            ThrowClosed();
        }

        try
        {
            if (WriteEnded())
            {
                ThrowClosed();
            }

            int written = _writer.TryWriteSome(bytes);
            if (written > 0)
            {
                _messagesSent++;
                _bytesSent += written;
                NotifyPeer(_peerWaitingForData);
            }

            return written;
        }
        finally
        {
            ExitCall();
        }
    }

    /// <summary>
    /// Half-close: this side writes no more (the peer reads what was written, then its end);
    /// reading goes on until <see cref="Dispose"/>.
    /// </summary>
    internal void ShutdownWrite()
    {
        if (!EnterCall())
        {
            return;
        }

        try
        {
            Volatile.Write(ref *_myClosed, 1);
            Wake(_peerEvent);
        }
        finally
        {
            ExitCall();
        }
    }

    /// <summary>This side's event count (read before deciding to sleep; see <see cref="SleepUntilSignalled"/>).</summary>
    internal int EventSequence()
    {
        if (!EnterCall())
        {
            return 0;
        }

        try
        {
            return Volatile.Read(ref *_myEvent);
        }
        finally
        {
            ExitCall();
        }
    }

    /// <summary>
    /// Sleeps until the peer signals (data, room, close) or a second passes; the wait thread of
    /// the stream transport. Arms the flags first and returns at once if the condition already holds.
    /// </summary>
    internal void SleepUntilSignalled(bool forInput, bool forRoom, int sequence)
    {
        if (!EnterCall())
        {
            return;
        }

        try
        {
            if (forInput)
            {
                Volatile.Write(ref *_myWaitingForData, 1);
            }

            if (forRoom)
            {
                Volatile.Write(ref *_myWaitingForSpace, 1);
            }

            Interlocked.MemoryBarrier();
            if (!(forInput && HasInput()) && !(forRoom && HasRoom()))
            {
                _sleeps++;
                Futex.Wait(_myEvent, sequence, SleepSliceMicros);
            }

            Volatile.Write(ref *_myWaitingForData, 0);
            Volatile.Write(ref *_myWaitingForSpace, 0);
        }
        finally
        {
            ExitCall();
        }
    }

    private bool TryWriteCore(ReadOnlySpan<byte> message)
    {
        if (WriteEnded())
        {
            ThrowClosed();
        }

        if (!_writer.TryWrite(message))
        {
            return false;
        }

        _messagesSent++;
        _bytesSent += message.Length;
        NotifyPeer(_peerWaitingForData);
        return true;
    }

    private bool TryReadCore(out ReadOnlySpan<byte> message)
    {
        bool found;
        try
        {
            found = _reader.TryRead(out message);
        }
        catch (IpcProtocolException)
        {
            Close(CloseReason.ProtocolError);
            throw;
        }

        if (_reader.ProducerNeedsWake)
        {
            _reader.ProducerNeedsWake = false;
            NotifyPeer(_peerWaitingForSpace);
        }

        if (found)
        {
            _messagesReceived++;
            _bytesReceived += message.Length;
        }

        return found;
    }

    /// <summary>True once the channel ended (this side closed, the peer closed or died): writes fail.</summary>
    private bool WriteEnded() => Volatile.Read(ref _closeReason) != 0;

    /// <summary>True once no more input can come: the channel ended, or the peer said it writes no more.</summary>
    private bool ReadEnded() => Volatile.Read(ref _closeReason) != 0 || Volatile.Read(ref *_peerClosed) != 0;

    // Empty ring and ended: a last look (the peer's final writes come before its closed flag),
    // then the end of stream for a peer that closed, an exception for anything else.
    private bool EndOfStream(out ReadOnlySpan<byte> message)
    {
        if (TryReadCore(out message))
        {
            return true;
        }

        CloseReason reason = CloseReason;
        if (reason is CloseReason.None or CloseReason.RemoteClose && Volatile.Read(ref *_peerClosed) != 0)
        {
            return false;
        }

        ThrowClosed();
        return false;
    }

    /// <summary>
    /// After publishing (data, or room), wakes the peer if it may be asleep waiting for it. The
    /// full fence orders our ring store before the load of its flag; the sleeper sets its flag,
    /// fences, then re-checks the ring — so one of the two always sees the other (Dekker).
    /// A peer that only spins never sleeps, and costs no fence.
    /// </summary>
    private void NotifyPeer(int* peerWaitingFlag)
    {
        if (Volatile.Read(ref *_peerMaySleep) == 0)
        {
            return;
        }

        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref *peerWaitingFlag) != 0 && Interlocked.Exchange(ref *peerWaitingFlag, 0) != 0)
        {
            _wakeupsSent++;
            Wake(_peerEvent);
        }
    }

    private void CheckSize(int length)
    {
        if (length > _writer.MaxPayload)
        {
            ThrowTooLarge(length);
        }
    }

    private void ThrowTooLarge(int length) =>
        throw new ArgumentException($"A {length}-byte message is larger than this channel's largest message, {MaxMessageSize} bytes (half the {RingCapacity}-byte ring). Raise IpcOptions.RingCapacity on the listener or split the message.");

    /// <summary>One wait of a read or write loop: spin, then (unless spinning only) sleep on this side's futex.</summary>
    private ref struct Waiter(IpcChannel channel, int* flag)
    {
        private long _spinUntil;
        private int _spins;
        private bool _armed;
        private bool _yielding;
        private int _sequence;

        public void Once()
        {
            if (_armed)
            {
                // Flag set and fenced, and the caller re-checked: nothing. Sleep until woken.
                channel._sleeps++;
                Futex.Wait(channel._myEvent, _sequence, SleepSliceMicros);
                Disarm();
                _spins = 0;
                _spinUntil = 0;
                return;
            }

            switch (channel.WaitStrategy)
            {
                case IpcWaitStrategy.Spin:
                    CpuPause.Once();
                    return;
                case IpcWaitStrategy.Hybrid when SpinMore():
                    CpuPause.Once();
                    return;
                case IpcWaitStrategy.Yield:
                    if (!_yielding && SpinMore())
                    {
                        CpuPause.Once();
                    }
                    else
                    {
                        _yielding = true; // past the spin: yield between all further polls
                        Thread.Yield();
                    }

                    return;
            }

            // Arm: read the event count, announce we may sleep, fence; the caller re-checks
            // the ring before the next Once() actually sleeps.
            _sequence = Volatile.Read(ref *channel._myEvent);
            Volatile.Write(ref *flag, 1);
            Interlocked.MemoryBarrier();
            _armed = true;
        }

        public void Disarm()
        {
            if (_armed)
            {
                Volatile.Write(ref *flag, 0);
                _armed = false;
            }
        }

        private bool SpinMore()
        {
            if ((++_spins & 63) != 1)
            {
                return true;
            }

            long now = Stopwatch.GetTimestamp();
            if (_spinUntil == 0)
            {
                _spinUntil = now + channel._spinTicks;
            }

            return now < _spinUntil;
        }
    }
}
