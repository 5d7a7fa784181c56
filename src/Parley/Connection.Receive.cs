using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
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
                ReadOnlySequence<byte> buffer = result.Buffer;
                long delivered = 0;
                bool stop = false;
                try
                {
                    while (true)
                    {
                        FrameParseStatus status = _framer.TryParse(buffer, out ReadOnlySequence<byte> payload, out SequencePosition consumed);
                        if (status == FrameParseStatus.Message)
                        {
                            buffer = buffer.Slice(consumed);
                            delivered++;
                            if (_middleware.Count == 0)
                            {
                                yield return payload;
                                continue;
                            }

                            // The decoded message lives until the caller asks for the next one.
                            if (!TryDecode(payload, out ReadOnlySequence<byte> decoded))
                            {
                                stop = true;
                                break;
                            }

                            yield return decoded;
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
                    reader.AdvanceTo(buffer.Start, buffer.End);
                    RecordReceived(delivered);
                    TrackIncomplete(buffer.Length);
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
                ReadOnlySequence<byte> buffer = result.Buffer;
                bool stop = DispatchBuffered(handler, ref buffer);
                reader.AdvanceTo(buffer.Start, buffer.End);
                TrackIncomplete(buffer.Length);
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
            while (true)
            {
                FrameParseStatus status = _framer.TryParse(buffer, out ReadOnlySequence<byte> payload, out SequencePosition consumed);
                switch (status)
                {
                    case FrameParseStatus.Message:
                        delivered++;
                        if (_middleware.Count == 0)
                        {
                            handler(this, payload);
                        }
                        else if (TryDecode(payload, out ReadOnlySequence<byte> decoded))
                        {
                            handler(this, decoded);
                        }
                        else
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

    /// <summary>After a parse pass: bytes left over are the start of a message the peer has not finished.
    /// The incomplete-message clock starts at the first such pass and stops when nothing is left.</summary>
    private void TrackIncomplete(long leftOver)
    {
        if (leftOver == 0)
        {
            if (_incompleteSince != 0)
            {
                Volatile.Write(ref _incompleteSince, 0);
            }
        }
        else if (_incompleteSince == 0)
        {
            Volatile.Write(ref _incompleteSince, _time.GetTimestamp() | 1); // never 0, which means none
        }
    }

    private void RecordReceived(long delivered)
    {
        if (delivered > 0)
        {
            Volatile.Write(ref _messagesReceived, _messagesReceived + delivered);
            ParleyMetrics.MessagesReceived.Add(delivered);
        }
    }

    private void OnProtocolViolation(FrameParseStatus status, in ReadOnlySequence<byte> buffer)
    {
        CloseReason reason = status == FrameParseStatus.FrameTooLarge ? CloseReason.FrameTooLarge : CloseReason.ProtocolError;
        string detail = status == FrameParseStatus.FrameTooLarge
            ? $"frame too large: over {_framer.MaxMessageSize} bytes"
            : $"malformed frame ({buffer.Length} bytes buffered)";
        if (TrySetCloseReason(reason))
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
