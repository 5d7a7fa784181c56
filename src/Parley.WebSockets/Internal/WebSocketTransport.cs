using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace Parley.WebSockets.Internal;

/// <summary>
/// A WebSocket connection after its handshake, as the byte stream a Parley
/// <see cref="Connection"/> reads: the peer's frames are decoded here — unmasked, fragments
/// joined, text checked as UTF-8, pings answered, the close handshake run — and each whole
/// message is handed on behind a 4-byte little-endian length, which <see cref="WebSocketFramer"/>
/// parses. A pong (and an empty message) becomes a zero length: a keep-alive, so liveness sees
/// the peer. What the connection sends (whole frames the framer wrote) passes straight through.
/// </summary>
/// <remarks>
/// <para>Memory follows what the peer sent, never what it declared: an unfragmented data frame
/// streams through the caller's buffer as it arrives (nothing is held for it here), a fragmented
/// or control frame is gathered in a buffer that grows with its bytes up to the message limit,
/// and an idle connection holds no buffer at all.</para>
/// <para>Concurrency: the connection's receive loop and send loop call in on different threads.
/// Control frames this side sends (pong, close) go out between the connection's writes, under
/// one send lock; each of the connection's writes holds whole frames, so frames never interleave.</para>
/// </remarks>
internal sealed class WebSocketTransport : Transport
{
    private const int InputBufferSize = 4096;
    private const int MaxControlPayload = 125;
    private const byte OpContinuation = 0;
    private const byte OpText = 1;
    private const byte OpBinary = 2;
    private const byte OpClose = 8;
    private const byte OpPing = 9;
    private const byte OpPong = 10;

    private readonly Transport _inner;
    private readonly bool _isClient;
    private readonly int _maxMessageSize;
    private readonly bool _acceptText;
    private readonly bool _acceptBinary;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly TimeProvider _time;
    private readonly TimeSpan _incompleteTimeout;

    // Raw bytes from the peer not decoded yet (rented when bytes arrive, returned when drained).
    private byte[]? _input;
    private int _inputStart;
    private int _inputEnd;

    // The frame being read.
    private bool _inFrame;
    private byte _frameOpcode;
    private bool _frameFin;
    private long _frameRemaining;
    private uint _maskKey;
    private int _maskOffset;
    private FrameRoute _route;

    // A fragmented message being gathered (or, for one unfragmented frame, just its type).
    private bool _inFragmentedMessage;
    private byte _messageOpcode;
    private byte[]? _message;
    private int _messageLength;
    private Utf8Checker _utf8;

    // A control frame's payload.
    private readonly byte[] _control = new byte[MaxControlPayload];
    private int _controlLength;
    // The pong owed (the latest ping's payload; RFC 6455 5.5.3 lets earlier ones go unanswered),
    // sent beside the receive loop so a peer that pings and never reads cannot stall it.
    private readonly Lock _pongLock = new();
    private readonly byte[] _pong = new byte[MaxControlPayload];
    private int _pongLength = -1; // -1: no pong owed
    private Task _pongSending = Task.CompletedTask;
    private long _pongSendingSince;

    // What is gathered here (fragments, a control frame) has a deadline: the connection cannot see
    // it. It counts only time spent waiting for the peer, never time the application held the
    // connection's buffer (as the connection's own incomplete-message clock pauses then).
    private TimeSpan _gatheringWaited;
    private long _waitingSince;
    private ITimer? _gatheringTimer;

    // A partial frame header kept while waiting (at most 13 bytes), so no input buffer is held.
    private readonly byte[] _parked = new byte[16];
    private int _parkedLength;
    private volatile bool _timedOut;

    // Decoded bytes owed to the caller before anything else: a length prefix, then maybe a gathered message.
    private readonly byte[] _prefix = new byte[4];
    private int _prefixStart = 4;
    private byte[]? _output;
    private int _outputStart;
    private int _outputEnd;

    private bool _closeReceived;
    private int _closeSent; // 1 once a Close frame went out (or will never go: the transport failed)
    private bool _ended;
    private int _finSent;

    public WebSocketTransport(Transport inner, bool isClient, WebSocketOptions options)
    {
        _inner = inner;
        _isClient = isClient;
        _maxMessageSize = options.MaxMessageSize;
        _acceptText = options.AcceptText;
        _acceptBinary = options.AcceptBinary;
        _time = options.TimeProvider;
        _incompleteTimeout = options.IncompleteMessageTimeout;
    }

    private enum FrameRoute
    {
        Stream,   // an unfragmented data frame: straight to the caller
        Gather,   // a fragment: into _message
        Control,  // into _control
        Discard,  // data after this side sent Close: dropped
    }

    /// <summary>The close code the peer sent, once it sent one; 1005 (none given) for an empty Close.</summary>
    public int? PeerCloseStatus { get; private set; }

    /// <summary>The subprotocol agreed in the handshake, if any.</summary>
    public string? SubProtocol { get; init; }

    public override EndPoint? LocalEndPoint => _inner.LocalEndPoint;

    public override EndPoint? RemoteEndPoint => _inner.RemoteEndPoint;

    /// <summary>
    /// Bytes the connection has not read: decoded output owed, a streamed frame's payload waiting
    /// here, and the socket's. Not a partial header or what is being gathered: those wait for the
    /// peer, and counting them would tell liveness a silent peer is busy.
    /// </summary>
    public override int AvailableBytes =>
        _inner.AvailableBytes + (HasOutput ? 1 : 0)
        + (_inFrame && _route == FrameRoute.Stream ? (int)Math.Clamp(Math.Min(_inputEnd - _inputStart, _frameRemaining), 0, int.MaxValue) : 0);

    private bool HasOutput => _prefixStart < 4 || _outputStart < _outputEnd;

    public override ValueTask<int> ReceiveAsync(Memory<byte> buffer)
    {
        if (!buffer.IsEmpty)
        {
            return ReceiveMessagesAsync(buffer);
        }

        // The connection's wait for data before it rents a buffer.
        if (HasOutput || _ended)
        {
            return new ValueTask<int>(0);
        }

        if (_inputEnd > _inputStart)
        {
            if (_inFrame || HeaderComplete())
            {
                return new ValueTask<int>(0); // decodable now
            }

            ParkPartialHeader(); // only the peer can finish it: wait without the buffer
        }

        WatchGathering();

        // Nothing gathered (nearly always): the socket's own wait, no state machine of ours.
        return _gatheringTimer is null ? _inner.ReceiveAsync(Memory<byte>.Empty) : WaitWhileGatheringAsync();
    }

    private async ValueTask<int> WaitWhileGatheringAsync()
    {
        try
        {
            return await _inner.ReceiveAsync(Memory<byte>.Empty).ConfigureAwait(false);
        }
        catch (Exception ex) when (_timedOut)
        {
            throw TimedOut(ex);
        }
        finally
        {
            EndWaiting();
        }
    }

    // Pooled state machine: a decode that waits for the peer allocates nothing.
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> ReceiveMessagesAsync(Memory<byte> buffer)
    {
        bool firstRead = true;
        while (true)
        {
            int written = 0;
            Failure failure = default;
            if (!_ended)
            {
                failure = Decode(buffer.Span, ref written);
            }

            if (failure.Code == 0)
            {
                failure = AnswerPing();
            }

            if (failure.Code != 0)
            {
                await FailAsync(failure).ConfigureAwait(false);
            }

            if (_closeReceived && !_ended)
            {
                _ended = true;
                ReleaseInput();
                await AnswerCloseAsync().ConfigureAwait(false);
            }

            if (written > 0)
            {
                return written;
            }

            if (_ended)
            {
                return DrainOutput(buffer.Span); // a message completed just before the Close
            }

            WatchGathering();
            bool more = await ReadInputAsync(firstRead).ConfigureAwait(false);
            firstRead = false;
            if (!more)
            {
                _ended = true; // the peer closed TCP without a Close frame (1006): the stream just ends
                ReleaseInput();
                ReleaseMessage();
                return 0;
            }
        }
    }

    /// <summary>Passes the connection's frames through, between the control frames this side sends.
    /// Synchronous (no state machine) when the lock is free and the socket takes the bytes at once.</summary>
    public override ValueTask<int> SendAsync(ReadOnlyMemory<byte> buffer)
    {
        if (!_sendLock.Wait(0))
        {
            return SendWhenFreeAsync(buffer);
        }

        ValueTask<int> sent;
        try
        {
            // After our Close nothing more may be sent: what the connection still has queued is dropped.
            if (Volatile.Read(ref _closeSent) != 0)
            {
                _sendLock.Release();
                return new ValueTask<int>(buffer.Length);
            }

            sent = _inner.SendAsync(buffer);
        }
        catch
        {
            _sendLock.Release();
            throw;
        }

        if (sent.IsCompletedSuccessfully)
        {
            _sendLock.Release();
            return new ValueTask<int>(buffer.Length);
        }

        return FinishSendAsync(sent, buffer.Length);
    }

    private async ValueTask<int> SendWhenFreeAsync(ReadOnlyMemory<byte> buffer)
    {
        await _sendLock.WaitAsync().ConfigureAwait(false);
        ValueTask<int> sent;
        try
        {
            if (Volatile.Read(ref _closeSent) != 0)
            {
                _sendLock.Release();
                return buffer.Length;
            }

            sent = _inner.SendAsync(buffer);
        }
        catch
        {
            _sendLock.Release();
            throw;
        }

        return await FinishSendAsync(sent, buffer.Length).ConfigureAwait(false);
    }

    private async ValueTask<int> FinishSendAsync(ValueTask<int> sent, int length)
    {
        try
        {
            await sent.ConfigureAwait(false);
            return length;
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>The connection closes gracefully: a Close frame (1000) unless one went out already, then the FIN.
    /// Receiving goes on until the peer's Close or FIN. A peer already gone is not an error.</summary>
    public override ValueTask ShutdownSendAsync() => ShutdownSendAsync(CloseReason.LocalClose);

    /// <summary>As <see cref="ShutdownSendAsync()"/>, the Close frame's code saying why: 1001 when
    /// the server stops, 1008 when the application ends a peer that broke its own protocol
    /// (<see cref="CloseReason.ProtocolError"/>), 1000 otherwise.</summary>
    public override async ValueTask ShutdownSendAsync(CloseReason reason)
    {
        int code = reason switch
        {
            CloseReason.ServerShutdown => WebSocketCloseStatus.GoingAway,
            CloseReason.ProtocolError => WebSocketCloseStatus.PolicyViolation,
            _ => WebSocketCloseStatus.NormalClosure,
        };
        try
        {
            await SendCloseAsync(code, []).ConfigureAwait(false);
            await ShutdownInnerAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (IsPeerGone(ex))
        {
            // The peer left, or the connection was aborted meanwhile: nothing more to say.
        }
    }

    /// <summary>The FIN, once: the connection's close and a protocol failure may both ask for it
    /// (over TLS two shutdowns at once would fail).</summary>
    private async ValueTask ShutdownInnerAsync()
    {
        if (Interlocked.Exchange(ref _finSent, 1) == 0)
        {
            await _inner.ShutdownSendAsync().ConfigureAwait(false);
        }
    }

    private static bool IsPeerGone(Exception ex) =>
        ex is IOException or System.Net.Sockets.SocketException or ObjectDisposedException or OperationCanceledException;

    public override void Dispose()
    {
        _gatheringTimer?.Dispose();
        _inner.Dispose();

        // Buffers are left to the collector when a receive may still be running: returning one a
        // pending decode writes into would hand it to someone else.
    }

    /// <summary>Copies what is owed (a length prefix, a gathered message) into <paramref name="destination"/>.</summary>
    private int DrainOutput(Span<byte> destination)
    {
        int written = 0;
        if (_prefixStart < 4)
        {
            int count = Math.Min(4 - _prefixStart, destination.Length);
            _prefix.AsSpan(_prefixStart, count).CopyTo(destination);
            _prefixStart += count;
            written = count;
        }

        if (_prefixStart == 4 && _outputStart < _outputEnd && written < destination.Length)
        {
            int count = Math.Min(_outputEnd - _outputStart, destination.Length - written);
            _output.AsSpan(_outputStart, count).CopyTo(destination[written..]);
            _outputStart += count;
            written += count;
            if (_outputStart == _outputEnd)
            {
                ArrayPool<byte>.Shared.Return(_output!);
                _output = null;
                _outputStart = _outputEnd = 0;
            }
        }

        return written;
    }

    /// <summary>Why the peer is cut off; <paramref name="Silent"/>: without a Close frame (it would never be read).</summary>
    private readonly record struct Failure(int Code, string Reason, bool Silent = false);

    /// <summary>
    /// Decodes what is buffered into <paramref name="destination"/> from <paramref name="written"/>
    /// on, until the input runs out, the destination fills, something is owed that must go out
    /// first, a Close arrives, or the peer breaks the protocol (returned, not thrown: the Close
    /// frame saying why is sent by the caller).
    /// </summary>
    private Failure Decode(Span<byte> destination, ref int written)
    {
        while (!_closeReceived)
        {
            // What is owed goes first: a length prefix just set, a gathered message.
            written += DrainOutput(destination[written..]);
            if (HasOutput)
            {
                return default; // the caller's buffer is full
            }

            if (!_inFrame)
            {
                Failure failure = TryStartFrame(out bool started);
                if (failure.Code != 0 || !started)
                {
                    return failure;
                }

                continue; // its length prefix (for a streamed frame) goes out before its payload
            }

            if (_frameRemaining > 0)
            {
                int available = _inputEnd - _inputStart;
                if (available == 0)
                {
                    return default;
                }

                int count = (int)Math.Min(available, _frameRemaining);
                ReadOnlySpan<byte> source = _input.AsSpan(_inputStart, count);
                switch (_route)
                {
                    case FrameRoute.Stream:
                        count = Math.Min(count, destination.Length - written);
                        if (count == 0)
                        {
                            return default; // the caller's buffer is full
                        }

                        Span<byte> target = destination.Slice(written, count);
                        Unmask(source[..count], target);
                        if (_messageOpcode == OpText && !_utf8.Append(target))
                        {
                            return new Failure(WebSocketCloseStatus.InvalidPayloadData, "a text message is not valid UTF-8");
                        }

                        written += count;
                        break;
                    case FrameRoute.Gather:
                        EnsureMessageRoom(count);
                        Unmask(source, _message.AsSpan(_messageLength, count));
                        if (_messageOpcode == OpText && !_utf8.Append(_message.AsSpan(_messageLength, count)))
                        {
                            return new Failure(WebSocketCloseStatus.InvalidPayloadData, "a text message is not valid UTF-8");
                        }

                        _messageLength += count;
                        break;
                    case FrameRoute.Control:
                        Unmask(source, _control.AsSpan(_controlLength, count));
                        _controlLength += count;
                        break;
                    default:
                        break;
                }

                _inputStart += count;
                _frameRemaining -= count;
                if (_frameRemaining > 0)
                {
                    continue;
                }
            }

            ReleaseInputIfDrained();
            Failure ended = EndFrame();
            if (ended.Code != 0)
            {
                return ended;
            }
        }

        return default;
    }

    /// <summary>Reads the next frame's header when it has all arrived, and checks it.</summary>
    private Failure TryStartFrame(out bool started)
    {
        started = false;
        ReadOnlySpan<byte> input = _input.AsSpan(_inputStart, _inputEnd - _inputStart);
        if (input.Length < 2)
        {
            return default;
        }

        byte first = input[0];
        byte second = input[1];
        bool masked = (second & 0x80) != 0;
        int lengthCode = second & 0x7F;
        int headerLength = 2 + (lengthCode == 126 ? 2 : lengthCode == 127 ? 8 : 0) + (masked ? 4 : 0);

        bool fin = (first & 0x80) != 0;
        byte opcode = (byte)(first & 0x0F);
        if ((first & 0x70) != 0)
        {
            return new Failure(WebSocketCloseStatus.ProtocolError, "reserved bits set (no extension was agreed)");
        }

        if (masked == _isClient)
        {
            return new Failure(WebSocketCloseStatus.ProtocolError, _isClient ? "a server frame was masked" : "a client frame was not masked");
        }

        bool control = opcode >= OpClose;
        if (opcode is not (OpContinuation or OpText or OpBinary or OpClose or OpPing or OpPong))
        {
            return new Failure(WebSocketCloseStatus.ProtocolError, $"unknown opcode {opcode}");
        }

        if (control && (!fin || lengthCode > MaxControlPayload))
        {
            return new Failure(WebSocketCloseStatus.ProtocolError, fin ? "a control frame longer than 125 bytes" : "a fragmented control frame");
        }

        if (input.Length < headerLength)
        {
            return default;
        }

        ulong length = lengthCode switch
        {
            126 => BinaryPrimitives.ReadUInt16BigEndian(input[2..]),
            127 => BinaryPrimitives.ReadUInt64BigEndian(input[2..]),
            _ => (ulong)lengthCode,
        };
        if (length > long.MaxValue)
        {
            return new Failure(WebSocketCloseStatus.ProtocolError, "a 64-bit length with its high bit set");
        }

        bool discard = Volatile.Read(ref _closeSent) != 0;
        if (!control)
        {
            if (opcode == OpContinuation && !_inFragmentedMessage)
            {
                return new Failure(WebSocketCloseStatus.ProtocolError, "a continuation frame with no message to continue");
            }

            if (opcode != OpContinuation && _inFragmentedMessage)
            {
                return new Failure(WebSocketCloseStatus.ProtocolError, "a new message before the fragmented one ended");
            }

            if ((opcode == OpText && !_acceptText) || (opcode == OpBinary && !_acceptBinary))
            {
                return new Failure(WebSocketCloseStatus.UnsupportedData, opcode == OpText ? "text messages are not accepted" : "binary messages are not accepted");
            }

            long soFar = opcode == OpContinuation ? _messageLength : 0;
            if (!discard && (long)length > _maxMessageSize - soFar)
            {
                return new Failure(WebSocketCloseStatus.MessageTooBig, $"a message over {_maxMessageSize} bytes");
            }
        }

        _maskKey = masked ? BinaryPrimitives.ReadUInt32LittleEndian(input.Slice(headerLength - 4, 4)) : 0;
        _maskOffset = 0;
        _inputStart += headerLength;
        _inFrame = true;
        _frameFin = fin;
        _frameOpcode = opcode;
        _frameRemaining = (long)length;
        started = true;

        if (control)
        {
            _route = FrameRoute.Control;
            _controlLength = 0;
            if (!_inFragmentedMessage)
            {
                _gatheringWaited = TimeSpan.Zero;
            }

            return default;
        }

        if (opcode != OpContinuation)
        {
            _messageOpcode = opcode;
            _utf8 = default;
        }

        if (discard)
        {
            _route = FrameRoute.Discard; // after our Close: read past it, keeping the fragment sequence checked
            _inFragmentedMessage = !fin;
        }
        else if (fin && opcode != OpContinuation)
        {
            // One frame, one message: its length is known, so the prefix goes out now and the
            // payload streams after it without being held here.
            _route = FrameRoute.Stream;
            SetPrefix((int)length);
        }
        else
        {
            _route = FrameRoute.Gather;
            if (!_inFragmentedMessage)
            {
                _gatheringWaited = TimeSpan.Zero; // the whole message has one deadline
            }

            _inFragmentedMessage = true;
        }

        return default;
    }

    /// <summary>A frame's payload is complete: finish what it was.</summary>
    private Failure EndFrame()
    {
        _inFrame = false;

        // Nothing gathered left waiting: no deadline. A control frame between fragments, or a
        // fragment that is not the last, leaves the message's deadline running.
        bool stillGathering = _route is FrameRoute.Gather or FrameRoute.Discard ? !_frameFin : _inFragmentedMessage;
        if (!stillGathering)
        {
            StopGatheringTimer();
        }

        switch (_route)
        {
            case FrameRoute.Stream:
                if (_messageOpcode == OpText && !_utf8.IsComplete)
                {
                    return new Failure(WebSocketCloseStatus.InvalidPayloadData, "a text message ends inside a UTF-8 sequence");
                }

                return default;
            case FrameRoute.Discard:
                if (_frameFin)
                {
                    _inFragmentedMessage = false;
                    ReleaseMessage(); // a message gathered before our Close, now dropped
                }

                return default;
            case FrameRoute.Gather:
                if (!_frameFin)
                {
                    return default;
                }

                _inFragmentedMessage = false;
                if (_messageOpcode == OpText && !_utf8.IsComplete)
                {
                    return new Failure(WebSocketCloseStatus.InvalidPayloadData, "a text message ends inside a UTF-8 sequence");
                }

                SetPrefix(_messageLength);
                if (_messageLength > 0)
                {
                    _output = _message;
                    _outputStart = 0;
                    _outputEnd = _messageLength;
                }
                else
                {
                    ReleaseMessage();
                }

                _message = null;
                _messageLength = 0;
                return default;
            default:
                return EndControlFrame();
        }
    }

    private Failure EndControlFrame()
    {
        ReadOnlySpan<byte> payload = _control.AsSpan(0, _controlLength);
        switch (_frameOpcode)
        {
            case OpPing:
                // RFC 6455 5.5.3: answering only the latest of several pings is allowed.
                if (Volatile.Read(ref _closeSent) == 0)
                {
                    lock (_pongLock)
                    {
                        payload.CopyTo(_pong);
                        _pongLength = payload.Length;
                    }
                }

                SetPrefix(0); // the peer is alive: a keep-alive for the connection's liveness
                return default;
            case OpPong:
                SetPrefix(0);
                return default;
            default:
                if (payload.Length == 1)
                {
                    return new Failure(WebSocketCloseStatus.ProtocolError, "a Close frame with a 1-byte body");
                }

                if (payload.Length >= 2)
                {
                    int code = BinaryPrimitives.ReadUInt16BigEndian(payload);
                    if (!WebSocketCloseStatus.IsValidReceived(code))
                    {
                        return new Failure(WebSocketCloseStatus.ProtocolError, $"an invalid close code {code}");
                    }

                    if (!System.Text.Unicode.Utf8.IsValid(payload[2..]))
                    {
                        return new Failure(WebSocketCloseStatus.InvalidPayloadData, "a close reason that is not UTF-8");
                    }

                    PeerCloseStatus = code;
                }
                else
                {
                    PeerCloseStatus = 1005;
                }

                _closeReceived = true;
                return default;
        }
    }

    private void SetPrefix(int length)
    {
        BinaryPrimitives.WriteInt32LittleEndian(_prefix, length);
        _prefixStart = 0;
    }

    private void Unmask(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        if (_isClient)
        {
            source.CopyTo(destination); // server frames are not masked
            return;
        }

        Masking.Apply(source, destination, _maskKey, ref _maskOffset);
    }

    private void EnsureMessageRoom(int count)
    {
        int needed = _messageLength + count;
        if (_message is not null && _message.Length >= needed)
        {
            return;
        }

        // Grows with the bytes that arrived (never to a declared length), doubling, within the limit.
        int size = Math.Min(Math.Max(needed, Math.Max(256, (_message?.Length ?? 0) * 2)), Math.Max(needed, _maxMessageSize));
        byte[] larger = ArrayPool<byte>.Shared.Rent(size);
        if (_message is not null)
        {
            _message.AsSpan(0, _messageLength).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_message);
        }

        _message = larger;
    }

    private void ReleaseMessage()
    {
        if (_message is not null)
        {
            ArrayPool<byte>.Shared.Return(_message);
            _message = null;
        }

        _messageLength = 0;
    }

    /// <summary>Reads more of the peer's bytes; false at the end of the stream.</summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> ReadInputAsync(bool firstRead)
    {
        try
        {
            if (_input is not null && _inputStart == _inputEnd)
            {
                ReleaseInput(); // everything decoded: hold nothing while waiting
            }
            else if (_input is not null && !_inFrame)
            {
                ParkPartialHeader();
            }

            if (_input is null)
            {
                // Wait for bytes before renting, so a connection waiting for its peer holds no
                // buffer — except on a call's first read: the connection calls with a buffer only
                // after its own wait said bytes had arrived, and a second wait would cost a trip
                // through the socket engine per message.
                if (!firstRead)
                {
                    await _inner.ReceiveAsync(Memory<byte>.Empty).ConfigureAwait(false);
                    EndWaiting();
                }

                _input = ArrayPool<byte>.Shared.Rent(InputBufferSize);
                _parked.AsSpan(0, _parkedLength).CopyTo(_input);
                _inputStart = 0;
                _inputEnd = _parkedLength;
                _parkedLength = 0;
            }
            else if (_inputStart > 0)
            {
                // A header split across reads: move it to the front (at most 13 bytes).
                _input.AsSpan(_inputStart, _inputEnd - _inputStart).CopyTo(_input);
                _inputEnd -= _inputStart;
                _inputStart = 0;
            }

            int received = await _inner.ReceiveAsync(_input.AsMemory(_inputEnd)).ConfigureAwait(false);
            EndWaiting();
            _inputEnd += received;
            return received > 0;
        }
        catch (Exception ex) when (_timedOut)
        {
            throw TimedOut(ex);
        }
    }

    private InvalidDataException TimedOut(Exception inner) =>
        new($"WebSocket: a fragmented message or control frame was not finished within {_incompleteTimeout.TotalSeconds:0.#} s", inner);

    private void ReleaseInputIfDrained()
    {
        if (_inputStart == _inputEnd)
        {
            ReleaseInput();
        }
    }

    private void ReleaseInput()
    {
        if (_input is not null)
        {
            ArrayPool<byte>.Shared.Return(_input);
            _input = null;
            _inputStart = _inputEnd = 0;
        }
    }

    /// <summary>
    /// Sends the pong owed, beside the receive loop: one send at a time, the latest ping's
    /// payload each. A pong the peer has not taken within the incomplete-message timeout means a
    /// peer that pings and does not read: the connection fails.
    /// </summary>
    private Failure AnswerPing()
    {
        lock (_pongLock)
        {
            if (_pongLength < 0)
            {
                return default;
            }
        }

        if (_pongSending.IsCompleted)
        {
            _pongSendingSince = _time.GetTimestamp();
            _pongSending = SendPongsAsync();
            return default;
        }

        return _time.GetElapsedTime(_pongSendingSince) > _incompleteTimeout
            ? new Failure(WebSocketCloseStatus.PolicyViolation, "the peer sends pings and does not read the pongs", Silent: true)
            : default;
    }

    private async Task SendPongsAsync()
    {
        byte[] frame = new byte[FrameHeader.MaxLength + MaxControlPayload];
        try
        {
            while (true)
            {
                int size;
                lock (_pongLock)
                {
                    if (_pongLength < 0)
                    {
                        return;
                    }

                    size = EncodeControl(frame, OpPong, _pong.AsSpan(0, _pongLength));
                    _pongLength = -1;
                }

                await SendControlAsync(frame.AsMemory(0, size), isClose: false).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The peer is gone; the receive side finds out.
        }
    }

    /// <summary>Before waiting for the peer: what is gathered here gets a timer for what is left of
    /// its deadline (made only while something is gathered — rare: browsers send messages whole).</summary>
    private void WatchGathering()
    {
        StopGatheringTimer();
        if (!(_inFragmentedMessage || (_inFrame && _route == FrameRoute.Control)))
        {
            return;
        }

        _waitingSince = _time.GetTimestamp();
        TimeSpan left = _incompleteTimeout - _gatheringWaited;
        _gatheringTimer = _time.CreateTimer(static state => ((WebSocketTransport)state!).OnGatheringTimeout(), this, left > TimeSpan.Zero ? left : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The peer sent something: the wait ends, and counts against what is gathered.</summary>
    private void EndWaiting()
    {
        if (_gatheringTimer is not null)
        {
            _gatheringWaited += _time.GetElapsedTime(_waitingSince);
            StopGatheringTimer();
        }
    }

    private bool HeaderComplete()
    {
        int available = _inputEnd - _inputStart;
        if (available < 2)
        {
            return false;
        }

        byte second = _input![_inputStart + 1];
        int lengthCode = second & 0x7F;
        return available >= 2 + (lengthCode == 126 ? 2 : lengthCode == 127 ? 8 : 0) + ((second & 0x80) != 0 ? 4 : 0);
    }

    /// <summary>Keeps the few bytes of a partial header and returns the input buffer.</summary>
    private void ParkPartialHeader()
    {
        int length = _inputEnd - _inputStart;
        if (_input is null || length > _parked.Length)
        {
            return;
        }

        _input.AsSpan(_inputStart, length).CopyTo(_parked);
        _parkedLength = length;
        ArrayPool<byte>.Shared.Return(_input);
        _input = null;
        _inputStart = _inputEnd = 0;
    }

    private void StopGatheringTimer()
    {
        _gatheringTimer?.Dispose();
        _gatheringTimer = null;
    }

    private void OnGatheringTimeout()
    {
        _timedOut = true;
        _inner.Dispose(); // the pending read fails; ReadInputAsync reports why
    }

    /// <summary>The peer sent Close: echo its code (RFC 6455 5.5.1) unless this side closed first.</summary>
    private ValueTask AnswerCloseAsync()
    {
        byte[] body = PeerCloseStatus is int code and not 1005 ? [(byte)(code >> 8), (byte)code] : [];
        return SendCloseAsync(body);
    }

    private ValueTask SendCloseAsync(int code, byte[] reason)
    {
        byte[] body = new byte[2 + reason.Length];
        BinaryPrimitives.WriteUInt16BigEndian(body, (ushort)code);
        reason.CopyTo(body, 2);
        return SendCloseAsync(body);
    }

    private async ValueTask SendCloseAsync(byte[] body)
    {
        byte[] frame = new byte[FrameHeader.MaxLength + body.Length];
        int size = EncodeControl(frame, OpClose, body);
        await SendControlAsync(frame.AsMemory(0, size), isClose: true).ConfigureAwait(false);
    }

    /// <summary>Sends a control frame between the connection's writes. Only one Close ever goes out.</summary>
    private async ValueTask SendControlAsync(ReadOnlyMemory<byte> frame, bool isClose)
    {
        if (!_sendLock.Wait(0))
        {
            await _sendLock.WaitAsync().ConfigureAwait(false);
        }

        try
        {
            if (Volatile.Read(ref _closeSent) != 0)
            {
                return;
            }

            if (isClose)
            {
                Volatile.Write(ref _closeSent, 1);
            }

            await _inner.SendAsync(frame).ConfigureAwait(false);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    private int EncodeControl(Span<byte> destination, byte opcode, ReadOnlySpan<byte> payload)
    {
        int header = FrameHeader.Write(destination, (byte)(0x80 | opcode), payload.Length, _isClient);
        if (!_isClient)
        {
            payload.CopyTo(destination[header..]);
        }
        else
        {
            Span<byte> key = destination.Slice(header - 4, 4);
            RandomNumberGenerator.Fill(key);
            int offset = 0;
            Masking.Apply(payload, destination[header..], BinaryPrimitives.ReadUInt32LittleEndian(key), ref offset);
        }

        return header + payload.Length;
    }

    /// <summary>The peer broke the protocol: tell it why in a Close frame, end our side, and fail the
    /// receive (the connection closes with <see cref="CloseReason.ProtocolError"/>).</summary>
    private async ValueTask FailAsync(Failure failure)
    {
        _ended = true;
        ReleaseInput();
        ReleaseMessage();
        if (failure.Silent)
        {
            // The peer does not read: a Close frame would wait behind the pongs it left. Cut it off.
            _inner.Dispose();
            var stalled = new WebSocketProtocolException(failure.Code, failure.Reason);
            throw new InvalidDataException(stalled.Message, stalled);
        }

        try
        {
            byte[] reason = Encoding.UTF8.GetBytes(failure.Reason.Length > 120 ? failure.Reason[..120] : failure.Reason);
            await SendCloseAsync(failure.Code, reason).ConfigureAwait(false);
            await ShutdownInnerAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or ObjectDisposedException)
        {
            // The peer is gone as well; the failure below is the news.
        }

        var detail = new WebSocketProtocolException(failure.Code, failure.Reason);
        throw new InvalidDataException(detail.Message, detail);
    }
}
