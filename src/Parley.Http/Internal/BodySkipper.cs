namespace Parley.Http;

/// <summary>
/// Reads past a request body the server does not use — a content length or a chunked body
/// with its trailers — so the next request on the connection is found where it starts.
/// Bounded: the body's decoded size by <see cref="HttpServerOptions.MaxRequestBodySize"/>, a
/// chunk-size line by 1 KiB, the trailers by the head limit.
/// </summary>
internal struct BodySkipper
{
    private const int MaxChunkLine = 1024;

    private State _state;
    private long _remaining;
    private long _total;
    private int _lineLength;
    private int _trailerBytes;
    private bool _sawDigit;
    private bool _inExtension;
    private bool _pendingIsCarriageReturn;

    private enum State
    {
        None,
        Length,
        ChunkSize,
        ChunkData,
        ChunkDataEnd,
        Trailers,
    }

    public enum Result
    {
        Done,
        NeedMoreData,
        Malformed,
        TooLarge,
    }

    public readonly bool Active => _state != State.None;

    public void StartLength(long length)
    {
        this = default;
        _state = length > 0 ? State.Length : State.None;
        _remaining = length;
    }

    public void StartChunked()
    {
        this = default;
        _state = State.ChunkSize;
    }

    /// <summary>Consumes body bytes from <paramref name="buffer"/>; <paramref name="consumed"/> says how many.</summary>
    public Result Skip(ReadOnlySpan<byte> buffer, long maxBody, int maxTrailers, out int consumed)
    {
        consumed = 0;
        while (true)
        {
            switch (_state)
            {
                case State.None:
                    return Result.Done;
                case State.Length:
                {
                    int take = (int)Math.Min(_remaining, buffer.Length - consumed);
                    consumed += take;
                    _remaining -= take;
                    if (_remaining > 0)
                    {
                        return Result.NeedMoreData;
                    }

                    _state = State.None;
                    return Result.Done;
                }

                case State.ChunkSize:
                    if (consumed == buffer.Length)
                    {
                        return Result.NeedMoreData;
                    }

                    if (!TryChunkSizeByte(buffer[consumed++], maxBody, out Result problem))
                    {
                        return problem;
                    }

                    break;
                case State.ChunkData:
                {
                    int take = (int)Math.Min(_remaining, buffer.Length - consumed);
                    consumed += take;
                    _remaining -= take;
                    if (_remaining > 0)
                    {
                        return Result.NeedMoreData;
                    }

                    _state = State.ChunkDataEnd;
                    _lineLength = 0;
                    break;
                }

                case State.ChunkDataEnd:
                    // CRLF (or a bare LF) after the chunk's data.
                    if (consumed == buffer.Length)
                    {
                        return Result.NeedMoreData;
                    }

                    byte b = buffer[consumed++];
                    if (b == (byte)'\r' && _lineLength == 0)
                    {
                        _lineLength = 1;
                    }
                    else if (b == (byte)'\n')
                    {
                        StartSizeLine();
                    }
                    else
                    {
                        return Result.Malformed;
                    }

                    break;
                case State.Trailers:
                {
                    // Trailer lines up to an empty one; their content is dropped.
                    int lineFeed = buffer[consumed..].IndexOf((byte)'\n');
                    int take = lineFeed < 0 ? buffer.Length - consumed : lineFeed + 1;
                    _trailerBytes += take;
                    if (_trailerBytes > maxTrailers)
                    {
                        return Result.TooLarge;
                    }

                    if (lineFeed < 0)
                    {
                        // The line goes on in a later read: remember whether all of it so far is one CR.
                        _pendingIsCarriageReturn = _lineLength == 0 && take == 1 && buffer[consumed] == (byte)'\r';
                        _lineLength += take;
                        consumed += take;
                        return Result.NeedMoreData;
                    }

                    int lineLength = _lineLength + lineFeed;
                    bool carriageReturn = lineFeed > 0 ? buffer[consumed + lineFeed - 1] == (byte)'\r' : _pendingIsCarriageReturn;
                    consumed += take;
                    _lineLength = 0;
                    _pendingIsCarriageReturn = false;
                    if (lineLength == 0 || (lineLength == 1 && carriageReturn))
                    {
                        _state = State.None;
                        return Result.Done;
                    }

                    break;
                }
            }
        }
    }

    private void StartSizeLine()
    {
        _state = State.ChunkSize;
        _remaining = 0;
        _lineLength = 0;
        _sawDigit = false;
        _inExtension = false;
    }

    // chunk-size [ chunk-ext ] CRLF; the extension is skipped, its length bounded.
    private bool TryChunkSizeByte(byte b, long maxBody, out Result problem)
    {
        problem = Result.Malformed;
        if (++_lineLength > MaxChunkLine)
        {
            return false;
        }

        if (b == (byte)'\n')
        {
            if (!_sawDigit)
            {
                return false;
            }

            if (_remaining == 0)
            {
                _state = State.Trailers;
                _lineLength = 0;
                return true;
            }

            _total += _remaining;
            if (_total > maxBody)
            {
                problem = Result.TooLarge;
                return false;
            }

            _state = State.ChunkData;
            return true;
        }

        if (_inExtension)
        {
            return b != 0;
        }

        int digit = b switch
        {
            >= (byte)'0' and <= (byte)'9' => b - '0',
            >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
            >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
            _ => -1,
        };
        if (digit >= 0)
        {
            if (_remaining > (maxBody >> 4) + 1)
            {
                problem = Result.TooLarge; // more hex digits than any allowed size needs
                return false;
            }

            _remaining = (_remaining << 4) + digit;
            _sawDigit = true;
            return true;
        }

        if (b is (byte)';' or (byte)' ' or (byte)'\t' && _sawDigit)
        {
            _inExtension = true;
            return true;
        }

        if (b == (byte)'\r' && _sawDigit)
        {
            _inExtension = true; // only the LF may follow; anything else inside an "extension" is tolerated as nginx does
            return true;
        }

        return false;
    }
}
