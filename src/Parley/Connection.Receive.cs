using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Parley.Internal;

namespace Parley;

public sealed partial class Connection
{
    // The least room worth a receive call: below it, a new segment is started instead.
    private const int MinReadSize = 512;

    /// <summary>
    /// Reads messages as an async stream: the asynchronous model. Each message is valid until
    /// the next <c>MoveNextAsync</c> (it points into the receive buffer, uncopied); copy what
    /// you keep. The stream ends when the peer closes or the connection is closed; a protocol
    /// violation closes the connection and ends the stream (see <see cref="CloseReason"/>).
    /// </summary>
    /// <remarks>A connection that closed before anything read it (a server stopped, or a peer gone,
    /// while the handler was still starting) gives an empty stream: what arrived unread was
    /// released with the connection.</remarks>
    /// <exception cref="InvalidOperationException">On the first <c>MoveNextAsync</c>: messages
    /// are already being read (by the server's or client's event pump, or another enumeration).</exception>
    public async IAsyncEnumerable<ReadOnlySequence<byte>> ReadMessagesAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // Claimed on the first MoveNextAsync, not at the call: an enumerable that is never
        // enumerated holds nothing, and the finally below always runs for one that is.
        if (!TryClaimReader())
        {
            yield break;
        }

        PipeReader reader = _input.Reader;
        try
        {
            while (true)
            {
                ReadResult result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                long paused = PauseIncomplete();
                ReadOnlySequence<byte> buffer = result.Buffer;
                long delivered = 0;
                bool stop = false;
                int fastConsumed = 0; // of the first segment, parsed over a span, not yet sliced off the buffer
                try
                {
                    if (MemoryMarshal.TryGetArray(buffer.First, out ArraySegment<byte> segment))
                    {
                        while (TryParseInSegment(segment, ref fastConsumed, out ReadOnlySequence<byte> payload) is var fast && fast != FrameParseStatus.NeedMoreData)
                        {
                            if (fast == FrameParseStatus.KeepAlive)
                            {
                                continue;
                            }

                            delivered++;
                            if (!TryPrepare(payload, out ReadOnlySequence<byte> message))
                            {
                                stop = true;
                                break;
                            }

                            yield return message;
                        }

                        buffer = buffer.Slice(fastConsumed);
                        fastConsumed = 0;
                    }

                    while (!stop)
                    {
                        FrameParseStatus status = _framer.TryParse(buffer, out ReadOnlySequence<byte> payload, out SequencePosition consumed);
                        if (status == FrameParseStatus.Message)
                        {
                            buffer = buffer.Slice(consumed);
                            delivered++;
                            if (!TryPrepare(payload, out ReadOnlySequence<byte> message))
                            {
                                stop = true;
                                break;
                            }

                            yield return message;
                        }
                        else if (status == FrameParseStatus.KeepAlive)
                        {
                            buffer = buffer.Slice(consumed);
                        }
                        else if (status == FrameParseStatus.NeedMoreData)
                        {
                            break;
                        }
                        else
                        {
                            OnProtocolViolation(status, buffer);
                            stop = true;
                            break;
                        }
                    }
                }
                finally
                {
                    buffer = buffer.Slice(fastConsumed); // the reader stopped early: what it was given is consumed
                    reader.AdvanceTo(buffer.Start, buffer.End);
                    RecordReceived(delivered);
                    TrackIncomplete(buffer.Length, buffer.Length < result.Buffer.Length, paused);
                }

                if (stop || result.IsCompleted || result.IsCanceled)
                {
                    yield break;
                }
            }
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Runs the middleware backwards over a received payload; false (and the connection closed) when it cannot be decoded.
    /// The result is valid until the next message of this connection.</summary>
    private bool TryDecode(in ReadOnlySequence<byte> payload, out ReadOnlySequence<byte> decoded)
    {
        try
        {
            // Only the one reader of this connection decodes, so its buffers need no lock.
            decoded = (_decodeBuffers ??= new MiddlewarePipeline.Buffers()).Decode(_middleware, payload, _framer.MaxMessageSize);
            return true;
        }
        catch (InvalidDataException ex)
        {
            Log.UndecodableMessage(_logger, Id, RemoteEndPoint, ex.Message);
            Abort(CloseReason.ProtocolError, ex);
            decoded = default;
            return false;
        }
    }

    /// <summary>The event model: parses and dispatches every message to <paramref name="handler"/>
    /// until the input ends. A handler that throws closes this connection with
    /// <see cref="CloseReason.ApplicationError"/>.</summary>
    internal async Task PumpMessagesAsync(MessageHandler handler)
    {
        if (!TryClaimReader())
        {
            return;
        }

        PipeReader reader = _input.Reader;
        try
        {
            while (true)
            {
                ReadResult result = await reader.ReadAsync().ConfigureAwait(false);
                long paused = PauseIncomplete();
                ReadOnlySequence<byte> buffer = result.Buffer;
                bool stop = DispatchBuffered(handler, ref buffer);

                reader.AdvanceTo(buffer.Start, buffer.End);
                TrackIncomplete(buffer.Length, buffer.Length < result.Buffer.Length, paused);
                if (stop || result.IsCompleted || result.IsCanceled)
                {
                    return;
                }
            }
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Dispatches every complete frame in <paramref name="buffer"/>; true when the connection must stop.</summary>
    private bool DispatchBuffered(MessageHandler handler, ref ReadOnlySequence<byte> buffer)
    {
        long delivered = 0;
        try
        {
            // Frames wholly inside the first segment (nearly all): parsed over a span, each
            // payload handed over as a one-segment sequence over the same array, no slicing of
            // the pipe's sequence per message. The rest go through the sequence overload below.
            if (MemoryMarshal.TryGetArray(buffer.First, out ArraySegment<byte> segment))
            {
                int offset = 0;
                FrameParseStatus fast;
                while ((fast = TryParseInSegment(segment, ref offset, out ReadOnlySequence<byte> payload)) != FrameParseStatus.NeedMoreData)
                {
                    if (fast == FrameParseStatus.Message)
                    {
                        delivered++;
                        if (!Deliver(handler, payload))
                        {
                            return true;
                        }
                    }
                }

                if (offset > 0)
                {
                    buffer = buffer.Slice(offset);
                }
            }

            while (true)
            {
                FrameParseStatus status = _framer.TryParse(buffer, out ReadOnlySequence<byte> payload, out SequencePosition consumed);
                switch (status)
                {
                    case FrameParseStatus.Message:
                        delivered++;
                        if (!Deliver(handler, payload))
                        {
                            return true;
                        }

                        buffer = buffer.Slice(consumed);
                        break;
                    case FrameParseStatus.KeepAlive:
                        buffer = buffer.Slice(consumed);
                        break;
                    case FrameParseStatus.NeedMoreData:
                        return false;
                    default:
                        OnProtocolViolation(status, buffer);
                        return true;
                }
            }
        }
        catch (Exception ex)
        {
            // The application's handler failed: this connection ends, the others go on.
            Log.HandlerFailed(_logger, Id, RemoteEndPoint, ex);
            Abort(CloseReason.ApplicationError, ex);
            return true;
        }
        finally
        {
            RecordReceived(delivered);
        }
    }

    /// <summary>
    /// The fast path of both readers (the event pump and <see cref="ReadMessagesAsync"/>): the
    /// next frame after <paramref name="offset"/> in the first receive segment, parsed over a span
    /// (<see cref="MessageFramer.TryParseContiguous"/>). On a message or a keep-alive, advances
    /// <paramref name="offset"/> past it; a message's payload is a one-segment sequence over the
    /// same array, no slice of the pipe's sequence. <see cref="FrameParseStatus.NeedMoreData"/>
    /// for anything else: the sequence overload decides from there.
    /// </summary>
    /// <exception cref="InvalidOperationException">The framer's answer does not lie inside the
    /// bytes it was given (a bug in the framer): believing it would hand over bytes past what was
    /// received — stale bytes of a pooled array, another connection's — or never advance.</exception>
    private FrameParseStatus TryParseInSegment(ArraySegment<byte> segment, ref int offset, out ReadOnlySequence<byte> payload)
    {
        payload = default;
        int available = segment.Count - offset;
        FrameParseStatus status = _framer.TryParseContiguous(segment.AsSpan(offset), out int payloadOffset, out int payloadLength, out int frameLength);
        if (status is not (FrameParseStatus.Message or FrameParseStatus.KeepAlive))
        {
            return FrameParseStatus.NeedMoreData;
        }

        bool valid = frameLength > 0 && frameLength <= available
            && (status == FrameParseStatus.KeepAlive
                || (payloadOffset >= 0 && payloadLength > 0 && payloadOffset <= frameLength - payloadLength));
        if (!valid)
        {
            ThrowHelper.ThrowInvalidContiguousParse(_framer, available, payloadOffset, payloadLength, frameLength);
        }

        if (status == FrameParseStatus.Message)
        {
            payload = new ReadOnlySequence<byte>(segment.Array!, segment.Offset + offset + payloadOffset, payloadLength);
        }

        offset += frameLength;
        return status;
    }

    /// <summary>Hands one message to the handler, decoded when there is middleware; false when it
    /// could not be decoded (the connection is closed).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Deliver(MessageHandler handler, in ReadOnlySequence<byte> payload)
    {
        if (_middleware.Count == 0)
        {
            handler(this, payload);
            return true;
        }

        if (!TryDecode(payload, out ReadOnlySequence<byte> decoded))
        {
            return false;
        }

        handler(this, decoded);
        return true;
    }

    /// <summary>
    /// The reader took the buffer: while the application handles what it holds, the peer is not
    /// the one keeping a message unfinished, so the incomplete-message clock stops. Returns the
    /// clock's start, for <see cref="TrackIncomplete"/> to resume it.
    /// </summary>
    private long PauseIncomplete()
    {
        long since = _incompleteSince;
        if (since != 0)
        {
            Volatile.Write(ref _incompleteSince, 0);
        }

        return since;
    }

    /// <summary>
    /// After a parse pass, before the reader waits again: bytes left over are the start of a
    /// message the peer has not finished. The clock starts with a new partial message (a pass
    /// that consumed a frame made progress), resumes where it was paused when the pass found
    /// nothing whole, and restarts whenever the peer has sent a timeout's worth of bytes at
    /// <see cref="ConnectionOptions.MinMessageDataRate"/> since it started: a large message on a
    /// slow but honest link keeps going; a trickle does not.
    /// </summary>
    private void TrackIncomplete(long leftOver, bool progressed, long paused)
    {
        if (leftOver == 0)
        {
            return; // paused at 0 already: nothing unfinished
        }

        long received = Volatile.Read(ref _bytesReceived);
        if (progressed || paused == 0 || received - _incompleteFromBytes >= _incompleteAllowanceBytes)
        {
            _incompleteFromBytes = received;
            paused = _time.GetTimestamp() | 1; // never 0, which means none
        }

        Volatile.Write(ref _incompleteSince, paused);
    }

    private void RecordReceived(long delivered)
    {
        if (delivered > 0)
        {
            Volatile.Write(ref _messagesReceived, _messagesReceived + delivered);
            ParleyMetrics.MessagesReceived.Add(delivered);
        }
    }

    /// <summary>
    /// A parsed payload as the application gets it: itself, or decoded by the middleware (the
    /// decoded message lives until the caller asks for the next one). False when decoding failed
    /// and the connection is closing.
    /// </summary>
    private bool TryPrepare(in ReadOnlySequence<byte> payload, out ReadOnlySequence<byte> message)
    {
        if (_middleware.Count == 0)
        {
            message = payload;
            return true;
        }

        return TryDecode(payload, out message);
    }

    private void OnProtocolViolation(FrameParseStatus status, in ReadOnlySequence<byte> buffer)
    {
        CloseReason reason = status == FrameParseStatus.FrameTooLarge ? CloseReason.FrameTooLarge : CloseReason.ProtocolError;
        string detail = status == FrameParseStatus.FrameTooLarge
            ? $"frame too large: over {_framer.MaxMessageSize} bytes"
            : $"malformed frame ({buffer.Length} bytes buffered)";
        if (TrySetCloseReason(reason) && _peerLog.TryTake(out _))
        {
            Log.ProtocolViolation(_logger, Id, RemoteEndPoint, reason, detail);
        }

        Abort(reason);
    }

    /// <summary>Takes the input pipe's reader: true when this caller reads, false when the connection
    /// closed before anyone read (the close completed the reader; there is nothing to read).</summary>
    /// <exception cref="InvalidOperationException">Another reader has it.</exception>
    private bool TryClaimReader()
    {
        int previous = Interlocked.CompareExchange(ref _reader, ReaderClaimed, ReaderFree);
        if (previous == ReaderClaimed)
        {
            ThrowHelper.ThrowReaderAlreadyClaimed();
        }

        return previous == ReaderFree;
    }

    private async Task ReceiveLoopAsync()
    {
        PipeWriter writer = _input.Writer;
        try
        {
            while (true)
            {
                // Wait for data before renting a buffer: an idle connection holds no receive memory.
                // (Skipping the wait after a read that filled its buffer was measured in issue 17:
                // no difference in bench echo, and a peer pausing right then would pin a segment.)
                await _transport.ReceiveAsync(Memory<byte>.Empty).ConfigureAwait(false);

                // Read into what is left of the current segment while it has a useful amount of
                // room. Asking for a whole segment each time would start a new one for every
                // read, and a peer trickling a message a byte at a time would pin a segment per
                // byte: memory must follow the bytes received, not the reads.
                Memory<byte> memory = writer.GetMemory(MinReadSize);
                int received = await _transport.ReceiveAsync(memory).ConfigureAwait(false);
                if (received == 0)
                {
                    TrySetCloseReason(CloseReason.RemoteClose);
                    break;
                }

                writer.Advance(received);
                Volatile.Write(ref _bytesReceived, _bytesReceived + received);
                Volatile.Write(ref _lastReceiveTicks, _time.GetTimestamp());
                ParleyMetrics.BytesReceived.Add(received);
                ParleyMetrics.Reads.Add(1);

                FlushResult flush = await writer.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    break;
                }

                // A slow handler held the flush: data did arrive, the peer is alive.
                Volatile.Write(ref _lastReceiveTicks, _time.GetTimestamp());
            }
        }
        catch (Exception ex)
        {
            OnTransportError(ex);
        }
        finally
        {
            await writer.CompleteAsync().ConfigureAwait(false);
        }
    }
}
