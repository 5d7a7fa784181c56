using System.Buffers;
using System.Buffers.Text;
using Microsoft.Win32.SafeHandles;

namespace Parley.Http;

/// <summary>
/// The answer to one request, written into the connection's response buffer: a head
/// (<see cref="StartHead"/>, <see cref="AddHeader"/>, <see cref="EndHead"/>) then exactly
/// <c>contentLength</c> body bytes (<see cref="WriteBody"/>, <see cref="SendFileAsync"/>). The
/// server adds <c>Date</c>, <c>Server</c>, <c>Content-Length</c> and <c>Connection</c>; for a
/// HEAD request it drops the body bytes, so a handler answers GET and HEAD alike. Responses to
/// pipelined requests gather in the buffer and leave together.
/// </summary>
/// <remarks>Not thread-safe; valid only during the handler's call.</remarks>
public sealed class HttpResponse
{
    private const long SendFilePiece = 1024 * 1024;

    private readonly HttpServer _server;
    private readonly Transport _transport;
    private readonly HttpConnection _connection;
    private byte[]? _buffer;
    private int _length;
    private long _bodyRemaining;
    private bool _headEnded;
    private bool _dropBody;

    internal HttpResponse(HttpServer server, Transport transport, HttpConnection connection)
    {
        _server = server;
        _transport = transport;
        _connection = connection;
    }

    /// <summary>The status of the response under way; 0 before <see cref="StartHead"/>.</summary>
    public int Status { get; private set; }

    /// <summary>A head has been started.</summary>
    public bool HasStarted => Status != 0;

    /// <summary>The connection will close after this response (the request asked, or the
    /// handler called <see cref="CloseAfterResponse"/>).</summary>
    public bool ClosesConnection => !KeepAlive;

    internal bool KeepAlive { get; set; }

    internal bool IsHead { get; set; }

    internal HttpProtocolVersion Version { get; set; }

    internal long BodyLength { get; private set; }

    internal bool IsComplete => _headEnded && _bodyRemaining == 0;

    internal int BufferedLength => _length;

    internal HttpConnection Connection => _connection;

    /// <summary>Closes the connection after this response. Call before <see cref="EndHead"/>.</summary>
    public void CloseAfterResponse()
    {
        if (_headEnded)
        {
            throw new InvalidOperationException("The head is written already.");
        }

        KeepAlive = false;
    }

    /// <summary>Starts the head: the status line, then <c>Date</c> and <c>Server</c>.</summary>
    public void StartHead(int status)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(status, 200);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(status, 599);
        if (HasStarted)
        {
            throw new InvalidOperationException("The response has started already.");
        }

        Status = status;
        Write(StatusLines.Get(status));
        Write(_server.Date.Line);
        if (_server.Options.ServerHeader)
        {
            Write("Server: Parley\r\n"u8);
        }
    }

    /// <summary>Adds one header field. The name must be a token and the value must hold no
    /// control bytes (CR, LF, NUL…): a value from the request echoed here cannot split the
    /// response.</summary>
    public void AddHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        EnsureInHead();
        if (!HttpChars.IsToken(name) || !HttpChars.IsFieldValue(value))
        {
            throw new ArgumentException("A header name must be a token and its value must hold no control bytes.");
        }

        Span<byte> span = Reserve(name.Length + value.Length + 4);
        name.CopyTo(span);
        span[name.Length] = (byte)':';
        span[name.Length + 1] = (byte)' ';
        value.CopyTo(span[(name.Length + 2)..]);
        "\r\n"u8.CopyTo(span[(name.Length + 2 + value.Length)..]);
        _length += name.Length + value.Length + 4;
    }

    /// <summary>Adds header lines already encoded (<c>Name: value\r\n</c> each), as a cache
    /// keeps them; they are not checked.</summary>
    public void AddEncodedHeaders(ReadOnlySpan<byte> lines)
    {
        EnsureInHead();
        Write(lines);
    }

    /// <summary>Ends the head with <c>Content-Length</c> (none for 204 and 304, whose bodies
    /// are empty by definition) and the <c>Connection</c> field the request calls for.</summary>
    /// <param name="contentLength">The body's length; for HEAD (and 304) the length the body
    /// would have, which is not sent.</param>
    public void EndHead(long contentLength)
    {
        EnsureInHead();
        ArgumentOutOfRangeException.ThrowIfNegative(contentLength);
        bool bodiless = Status is 204 or 304;
        if (!bodiless)
        {
            Write("Content-Length: "u8);
            Span<byte> digits = Reserve(20);
            Utf8Formatter.TryFormat(contentLength, digits, out int written);
            _length += written;
            Write("\r\n"u8);
        }

        if (!KeepAlive)
        {
            Write("Connection: close\r\n"u8);
        }
        else if (Version == HttpProtocolVersion.Http10)
        {
            Write("Connection: keep-alive\r\n"u8);
        }

        Write("\r\n"u8);
        _headEnded = true;
        _dropBody = IsHead || bodiless;
        _bodyRemaining = _dropBody ? 0 : contentLength;
        BodyLength = _dropBody ? 0 : contentLength;
    }

    /// <summary>Writes body bytes (dropped for HEAD). More than the announced length throws.</summary>
    public void WriteBody(ReadOnlySpan<byte> body)
    {
        if (!_headEnded)
        {
            throw new InvalidOperationException("EndHead comes before the body.");
        }

        if (_dropBody)
        {
            return;
        }

        if (body.Length > _bodyRemaining)
        {
            throw new InvalidOperationException("More body than the Content-Length announced.");
        }

        Write(body);
        _bodyRemaining -= body.Length;
    }

    /// <summary>
    /// Sends body bytes from a file: what is buffered goes first, then the file through
    /// <see cref="Transport.SendFileAsync(ReadOnlyMemory{byte}, Microsoft.Win32.SafeHandles.SafeFileHandle, long, long, CancellationToken)"/> (the kernel's <c>sendfile</c> on a socket). Dropped
    /// for HEAD.
    /// </summary>
    public async ValueTask SendFileAsync(SafeFileHandle file, long offset, long count)
    {
        ArgumentNullException.ThrowIfNull(file);
        if (!_headEnded)
        {
            throw new InvalidOperationException("EndHead comes before the body.");
        }

        if (_dropBody || count == 0)
        {
            return;
        }

        if (count > _bodyRemaining)
        {
            throw new InvalidOperationException("More body than the Content-Length announced.");
        }

        // What is buffered (this head, and earlier pipelined responses) goes with the file's
        // first piece. Pieces of 1 MiB, each with its own send deadline: the send timeout is
        // for a peer that stops reading, not for a long download that keeps going.
        _bodyRemaining -= count;
        ReadOnlyMemory<byte> head = _buffer.AsMemory(0, _length);
        while (count > 0)
        {
            long piece = Math.Min(count, SendFilePiece);
            _connection.BeginSend();
            await _transport.SendFileAsync(head, file, offset, piece).ConfigureAwait(false);
            _length = 0;
            head = ReadOnlyMemory<byte>.Empty;
            if (!_connection.EndSend())
            {
                throw new OperationCanceledException("The connection was aborted while sending.");
            }

            offset += piece;
            count -= piece;
        }
    }

    /// <summary>
    /// Writes a <c>101 Switching Protocols</c> head: <c>Connection: Upgrade</c>,
    /// <c>Upgrade: </c><paramref name="protocol"/>, then <paramref name="headerLines"/> as given
    /// (<c>Name: value\r\n</c> each, not checked). Used by <see cref="HttpContext.UpgradeAsync"/>.
    /// </summary>
    internal void WriteSwitchingProtocols(ReadOnlySpan<byte> protocol, ReadOnlySpan<byte> headerLines)
    {
        if (HasStarted)
        {
            throw new InvalidOperationException("The response has started already.");
        }

        Status = 101;
        Write(StatusLines.Get(101));
        Write(_server.Date.Line);
        if (_server.Options.ServerHeader)
        {
            Write("Server: Parley\r\n"u8);
        }

        Write("Connection: Upgrade\r\nUpgrade: "u8);
        Write(protocol);
        Write("\r\n"u8);
        Write(headerLines);
        Write("\r\n"u8);
        _headEnded = true;
        _dropBody = true;
        _bodyRemaining = 0;
        BodyLength = 0;
        KeepAlive = false;
    }

    /// <summary>A whole response in one call: head, <c>Content-Type</c>, body.</summary>
    public void Write(int status, ReadOnlySpan<byte> contentType, ReadOnlySpan<byte> body)
    {
        StartHead(status);
        if (!contentType.IsEmpty)
        {
            Write("Content-Type: "u8);
            Write(contentType);
            Write("\r\n"u8);
        }

        EndHead(body.Length);
        WriteBody(body);
    }

    /// <summary>Sends what is buffered; synchronous when the socket takes it at once.</summary>
    internal ValueTask FlushAsync()
    {
        if (_length == 0)
        {
            return default;
        }

        _connection.BeginSend();
        ValueTask<int> sent = _transport.SendAsync(_buffer.AsMemory(0, _length));
        if (!sent.IsCompletedSuccessfully)
        {
            return FlushLaterAsync(sent);
        }

        _length = 0;
        return _connection.EndSend() ? default : throw new OperationCanceledException("The connection was aborted while sending.");
    }

    private async ValueTask FlushLaterAsync(ValueTask<int> sent)
    {
        await sent.ConfigureAwait(false);
        _length = 0;
        if (!_connection.EndSend())
        {
            throw new OperationCanceledException("The connection was aborted while sending.");
        }
    }

    /// <summary>Ready for the next request's response (what is buffered stays).</summary>
    internal void Reset(HttpRequestHead request)
    {
        Status = 0;
        _headEnded = false;
        _dropBody = false;
        _bodyRemaining = 0;
        BodyLength = 0;
        KeepAlive = request.KeepAlive;
        IsHead = request.Method == HttpRequestMethod.Head;
        Version = request.Version;
    }

    /// <summary>Gives the buffer back to the pool when nothing is in it (an idle connection holds
    /// none), or whatever it holds when the connection has ended.</summary>
    internal void ReleaseBuffer(bool force = false)
    {
        if (force)
        {
            _length = 0;
        }

        if (_buffer is not null && _length == 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }
    }

    internal void Write(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(Reserve(bytes.Length));
        _length += bytes.Length;
    }

    private Span<byte> Reserve(int size)
    {
        if (_buffer is null || _buffer.Length - _length < size)
        {
            Grow(size);
        }

        return _buffer.AsSpan(_length);
    }

    private void Grow(int size)
    {
        byte[] larger = ArrayPool<byte>.Shared.Rent(Math.Max(_length + size, Math.Max(4096, (_buffer?.Length ?? 0) * 2)));
        if (_buffer is not null)
        {
            _buffer.AsSpan(0, _length).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
        }

        _buffer = larger;
    }

    private void EnsureInHead()
    {
        if (!HasStarted || _headEnded)
        {
            throw new InvalidOperationException("Header fields go between StartHead and EndHead.");
        }
    }
}
