using System.Buffers;
using System.Net.Sockets;
using System.Text;

namespace Parley.Http;

/// <summary>
/// One HTTP/1.1 connection: read, parse every complete request in what arrived, answer each
/// into one response buffer, send it, read again — on one logical thread, with no hop between
/// receiving and sending. Idle, it holds no buffer (a zero-byte read waits for data), so ten
/// thousand idle keep-alive connections cost their sockets and little else.
/// </summary>
/// <remarks>
/// The server's heartbeat (once a second) reads <see cref="_phase"/> and <see cref="_deadline"/>
/// and ends connections that waited too long: an idle one quietly, one whose request head is
/// late with 408, one that does not read its response by aborting. It only ever moves a
/// connection out of a waiting phase by compare-and-swap; so does this loop, so exactly one of
/// them acts.
/// </remarks>
internal sealed partial class HttpConnection
{
    private readonly HttpServer _server;
    private readonly HttpServerOptions _options;
    private readonly Transport _transport;
    private readonly HttpResponse _response;
    private HttpContext? _context;
    private byte[]? _input;
    private int _start;
    private int _end;
    private int _phase;
    private long _deadline;
    private long _headDeadline;
    private BodySkipper _body;
    private bool _requestStarted;
    private bool _detached; // switched protocols: the transport is someone else's now

    public HttpConnection(HttpServer server, Transport transport)
    {
        _server = server;
        _options = server.Options;
        _transport = transport;
        _response = new HttpResponse(server, transport, this);
    }

    public Transport Transport => _transport;

    internal bool IsStopping => _server.IsStopping;

    /// <summary>Switched protocols: the transport belongs to whoever took it.</summary>
    internal bool IsDetached => Volatile.Read(ref _detached);

    /// <summary>The peer's address as counted against <see cref="HttpServerOptions.MaxConnectionsPerAddress"/>; null when not counted.</summary>
    internal UInt128? AddressKey { get; init; }

    internal ConnectionPhase Phase => (ConnectionPhase)Volatile.Read(ref _phase);

    public async Task RunAsync()
    {
        try
        {
            await ServeAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (IsDisconnect(ex))
        {
            // The peer reset or left, or the heartbeat aborted the connection: routine.
        }
        catch (Exception ex)
        {
            Log.ConnectionFailed(_server.Logger, _transport.RemoteEndPoint, ex);
        }
        finally
        {
            Volatile.Write(ref _phase, (int)ConnectionPhase.Closed);
            if (!_detached)
            {
                _transport.Dispose();
            }

            ReleaseBuffers(force: true);
            _server.Remove(this);
        }
    }

    private async Task ServeAsync()
    {
        while (true)
        {
            if (_start == _end && !_body.Active)
            {
                ReleaseBuffers(force: false);
                Wait(ConnectionPhase.Idle, _options.KeepAliveTimeout);
                if (_server.IsStopping)
                {
                    return;
                }

                await _transport.ReceiveAsync(Memory<byte>.Empty).ConfigureAwait(false);
                if (!TryLeave(ConnectionPhase.Idle))
                {
                    return; // the keep-alive timeout closed it
                }

                RentBuffers();
                Wait(ConnectionPhase.Head, _options.RequestHeadTimeout);
            }
            else if (_end == _input!.Length)
            {
                MakeRoom();
            }

            int received = await _transport.ReceiveAsync(_input.AsMemory(_end)).ConfigureAwait(false);
            if (!TryLeave(_body.Active ? ConnectionPhase.Body : ConnectionPhase.Head))
            {
                await LingerAsync().ConfigureAwait(false); // the heartbeat answered 408
                return;
            }

            if (received == 0)
            {
                return; // the peer finished; a partial request is dropped
            }

            _end += received;

            // Every complete request in the buffer, answered in order, the responses sent together.
            // (Inline, not a method of its own: in a Debug build every async call allocates.)
            while (true)
            {
                RequestStep step = TakeRequest();
                if (step == RequestStep.NeedMoreData)
                {
                    break;
                }

                if (step == RequestStep.BodyBroken)
                {
                    // The body went wrong after its request was answered: the framing is lost, so
                    // nothing more can be answered here. Send what is written and close cleanly.
                    await _response.FlushAsync().ConfigureAwait(false);
                    await CloseGracefullyAsync().ConfigureAwait(false);
                    return;
                }

                HttpRequestHead head = _context!.Request;
                if (step == RequestStep.Invalid)
                {
                    _response.Reset(head);
                    await FailAsync(head.ErrorStatus, head.ErrorReason!).ConfigureAwait(false);
                    return;
                }

                if (!await AnswerAsync(_context!).ConfigureAwait(false))
                {
                    return;
                }

                if (_response.BufferedLength >= _options.ResponseBufferSize)
                {
                    await _response.FlushAsync().ConfigureAwait(false);
                }
            }

            await _response.FlushAsync().ConfigureAwait(false);
            AfterRequests();
        }
    }

    private enum RequestStep
    {
        NeedMoreData,
        Request,
        BodyBroken,
        Invalid,
    }

    // Past the last request's body, then the next head: what the buffer holds next.
    private RequestStep TakeRequest()
    {
        if (_body.Active)
        {
            BodySkipper.Result skipped = _body.Skip(_input.AsSpan(_start, _end - _start), _options.MaxRequestBodySize, _options.MaxHeadSize, out int used);
            _start += used;
            if (skipped == BodySkipper.Result.NeedMoreData)
            {
                return RequestStep.NeedMoreData;
            }

            if (skipped != BodySkipper.Result.Done)
            {
                return RequestStep.BodyBroken;
            }
        }

        if (_start == _end)
        {
            return RequestStep.NeedMoreData;
        }

        if (!_requestStarted)
        {
            _requestStarted = true;
            _headDeadline = Deadline(_options.RequestHeadTimeout); // from the request's first byte
        }

        HttpParseStatus status = _server.Parser.TryParse(_input.AsMemory(_start, _end - _start), _context!.Request, out int consumed);
        if (status == HttpParseStatus.NeedMoreData)
        {
            return RequestStep.NeedMoreData;
        }

        if (status == HttpParseStatus.Invalid)
        {
            return RequestStep.Invalid;
        }

        _start += consumed;
        _requestStarted = false;
        HttpRequestHead head = _context.Request;
        if (head.ContentLength > _options.MaxRequestBodySize)
        {
            return Reject(head, 413, "The request body is too large.");
        }

        // The body (which this server never uses) is read past now as far as it has arrived, so
        // a malformed or oversized one is answered with its error instead of the request's
        // response; what arrives later is read past after the response.
        if (head.Chunked)
        {
            _body.StartChunked();
        }
        else
        {
            _body.StartLength(Math.Max(0, head.ContentLength));
        }

        BodySkipper.Result body = _body.Skip(_input.AsSpan(_start, _end - _start), _options.MaxRequestBodySize, _options.MaxHeadSize, out int bodyBytes);
        _start += bodyBytes;
        return body switch
        {
            BodySkipper.Result.Malformed => Reject(head, 400, "Malformed chunked body."),
            BodySkipper.Result.TooLarge => Reject(head, 413, "The request body is too large."),
            _ => RequestStep.Request,
        };
    }

    private static RequestStep Reject(HttpRequestHead head, int status, string reason)
    {
        head.ErrorStatus = status;
        head.ErrorReason = reason;
        return RequestStep.Invalid;
    }

    // All complete requests answered and sent: keep what is left of the next one and wait for it.
    private void AfterRequests()
    {
        if (_start == _end)
        {
            _start = _end = 0;
        }

        if (_body.Active)
        {
            Wait(ConnectionPhase.Body, _options.RequestHeadTimeout);
        }
        else if (_start != _end)
        {
            WaitUntil(ConnectionPhase.Head, _headDeadline); // the head's clock started at its first byte
        }
    }

    // Answers one request; false when the connection ends after it. Synchronous unless a
    // handler or a closing send goes asynchronous: a request for a cached file allocates nothing.
    private ValueTask<bool> AnswerAsync(HttpContext context)
    {
        HttpRequestHead head = context.Request;
        _response.Reset(head);
        if (_server.IsStopping)
        {
            _response.KeepAlive = false;
        }

        if (head.ExpectContinue && head.HasBody)
        {
            // Answer without inviting the body, then close: the peer either sends it anyway
            // (read and dropped while lingering) or does not.
            _response.KeepAlive = false;
        }

        if (!context.TryDecodePath(out string? reason))
        {
            return EndWithAsync(400, reason!);
        }

        context.RemoteEndPoint = _transport.RemoteEndPoint;
        ValueTask dispatched;
        try
        {
            dispatched = Dispatch(context, 0);
        }
        catch (Exception ex) when (!IsDisconnect(ex) && !_response.HasStarted)
        {
            return HandlerFailedAsync(head, ex);
        }

        return dispatched.IsCompletedSuccessfully ? Finish(context) : AnswerLaterAsync(context, dispatched);
    }

    private async ValueTask<bool> AnswerLaterAsync(HttpContext context, ValueTask dispatched)
    {
        try
        {
            await dispatched.ConfigureAwait(false);
        }
        catch (Exception ex) when (!IsDisconnect(ex) && !_response.HasStarted)
        {
            return await HandlerFailedAsync(context.Request, ex).ConfigureAwait(false);
        }

        return await Finish(context).ConfigureAwait(false);
    }

    private async ValueTask<bool> HandlerFailedAsync(HttpRequestHead head, Exception ex)
    {
        Log.HandlerFailed(_server.Logger, Encoding.UTF8.GetString(head.Target), ex);
        head.Reset();
        await FailAsync(500, "The server failed to answer.").ConfigureAwait(false);
        return false;
    }

    private async ValueTask<bool> EndWithAsync(int status, string reason)
    {
        await FailAsync(status, reason).ConfigureAwait(false);
        return false;
    }

    private ValueTask<bool> Finish(HttpContext context)
    {
        HttpRequestHead head = context.Request;
        if (!_response.IsComplete)
        {
            Log.IncompleteResponse(_server.Logger, head.Method, _response.Status);
            return new ValueTask<bool>(false); // a body shorter than its Content-Length: only closing can say so
        }

        _options.AccessLog?.Invoke(new HttpAccessLogEntry(
            _transport.RemoteEndPoint, Encoding.ASCII.GetString(head.MethodBytes), Encoding.UTF8.GetString(head.Target),
            head.Version, _response.Status, _response.BodyLength));

        head.Reset();
        if (_detached)
        {
            return new ValueTask<bool>(false); // switched protocols: this loop is done with the transport
        }

        return _response.KeepAlive ? new ValueTask<bool>(true) : CloseAfterResponseAsync();
    }

    private async ValueTask<bool> CloseAfterResponseAsync()
    {
        await _response.FlushAsync().ConfigureAwait(false);
        await CloseGracefullyAsync().ConfigureAwait(false);
        return false;
    }

    // The mapped handlers from route index `from` on (the longest prefix first), then the
    // fallback (index Routes.Length), then 404. Synchronous while the handlers are.
    private ValueTask Dispatch(HttpContext context, int from)
    {
        (string Prefix, HttpHandler Handler)[] routes = _server.Routes;
        for (int i = from; i < routes.Length; i++)
        {
            if (!Matches(context.Path, routes[i].Prefix))
            {
                continue;
            }

            ValueTask<bool> handled = routes[i].Handler.HandleAsync(context);
            if (!handled.IsCompletedSuccessfully)
            {
                return DispatchLaterAsync(context, handled, i);
            }

            if (handled.Result)
            {
                return default;
            }
        }

        if (from <= routes.Length && _options.Fallback is { } fallback)
        {
            ValueTask<bool> handled = fallback.HandleAsync(context);
            if (!handled.IsCompletedSuccessfully)
            {
                return DispatchLaterAsync(context, handled, routes.Length);
            }

            if (handled.Result)
            {
                return default;
            }
        }

        if (!_response.HasStarted)
        {
            WriteError(404, "Not found.");
        }

        return default;

        static bool Matches(ReadOnlySpan<char> path, string prefix) =>
            path.StartsWith(prefix, StringComparison.Ordinal)
            && (prefix.Length == 1 || path.Length == prefix.Length || path[prefix.Length] == '/');
    }

    private async ValueTask DispatchLaterAsync(HttpContext context, ValueTask<bool> pending, int index)
    {
        if (!await pending.ConfigureAwait(false))
        {
            await Dispatch(context, index + 1).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The 101 is written: sends it (with what earlier requests' responses are buffered), takes
    /// the connection out of the heartbeat's hands, and gives the transport away with what the
    /// peer sent after the head.
    /// </summary>
    internal async ValueTask<Transport> DetachAsync()
    {
        await _response.FlushAsync().ConfigureAwait(false);
        if (Interlocked.CompareExchange(ref _phase, (int)ConnectionPhase.Closed, (int)ConnectionPhase.Busy) != (int)ConnectionPhase.Busy)
        {
            throw new OperationCanceledException("The connection was closed while switching protocols.");
        }

        Volatile.Write(ref _detached, true);
        byte[] rest = _input.AsSpan(_start, _end - _start).ToArray();
        _start = _end = 0;
        return rest.Length == 0 ? _transport : new PrefixedTransport(_transport, rest);
    }

    // An error that ends the connection: answer, send, signal the end, and linger.
    private async ValueTask FailAsync(int status, string reason)
    {
        Log.RequestRejected(_server.Logger, status, reason, _transport.RemoteEndPoint);
        if (!_response.HasStarted)
        {
            _response.KeepAlive = false;
            WriteError(status, reason);
        }

        await _response.FlushAsync().ConfigureAwait(false);
        await CloseGracefullyAsync().ConfigureAwait(false);
    }

    private void WriteError(int status, string reason)
    {
        _response.StartHead(status);
        if (status == 405)
        {
            _response.AddEncodedHeaders("Allow: GET, HEAD\r\n"u8);
        }

        string text = $"{status} {StatusLines.Reason(status)}: {reason}\n";
        Span<byte> body = stackalloc byte[Encoding.UTF8.GetMaxByteCount(text.Length)];
        int length = Encoding.UTF8.GetBytes(text, body);
        _response.AddEncodedHeaders("Content-Type: text/plain; charset=utf-8\r\n"u8);
        _response.EndHead(length);
        _response.WriteBody(body[..length]);
    }

    /// <summary>A response that closes: the FIN after it, then what the peer still sends is read
    /// and dropped, so the close is not a reset that could destroy the response in flight.</summary>
    private async ValueTask CloseGracefullyAsync()
    {
        await _transport.ShutdownSendAsync().ConfigureAwait(false);
        Wait(ConnectionPhase.Lingering, _options.LingerTimeout);
        await LingerAsync().ConfigureAwait(false);
    }

    private async ValueTask LingerAsync()
    {
        byte[] sink = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            long drained = 0;
            while (drained < 1024 * 1024)
            {
                int read = await _transport.ReceiveAsync(sink).ConfigureAwait(false);
                if (read == 0)
                {
                    return;
                }

                drained += read;
            }
        }
        catch (Exception ex) when (IsDisconnect(ex))
        {
            // The linger deadline disposed the transport, or the peer reset: either way, done.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(sink);
        }
    }

    private void RentBuffers()
    {
        _input ??= ArrayPool<byte>.Shared.Rent(4096);
        _context ??= _server.RentContext(_response);
    }

    private void ReleaseBuffers(bool force)
    {
        if (_input is not null && (force || _start == _end))
        {
            ArrayPool<byte>.Shared.Return(_input);
            _input = null;
            _start = _end = 0;
        }

        if (_context is not null)
        {
            _server.ReturnContext(_context);
            _context = null;
        }

        _response.ReleaseBuffer(force);
    }

    // The receive buffer is full: move what is unread to the front, or grow (to hold the
    // longest head the parser allows, plus one read).
    private void MakeRoom()
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_input!, _start, _input!, 0, _end - _start);
            _end -= _start;
            _start = 0;
            return;
        }

        int size = Math.Min(_input!.Length * 2, _options.MaxHeadSize + 4096);
        if (size <= _input.Length)
        {
            // Cannot happen: the parser fails a head this long before the buffer fills.
            throw new InvalidOperationException("The request head outgrew its buffer.");
        }

        byte[] larger = ArrayPool<byte>.Shared.Rent(size);
        _input.AsSpan(0, _end).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(_input);
        _input = larger;
    }

    internal static bool IsDisconnect(Exception ex) => ex is SocketException or ObjectDisposedException or OperationCanceledException
        || (ex is IOException { InnerException: SocketException or ObjectDisposedException });
}
