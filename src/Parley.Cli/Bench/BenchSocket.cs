using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;

namespace Parley.Cli.Bench;

/// <summary>
/// The load generator's own connection: a bare socket speaking Parley's length-prefixed
/// framing (u32 little-endian), with one receive loop that reads into a fixed buffer and hands
/// out every whole frame in it before the next read.
/// </summary>
/// <remarks>
/// A benchmark client that costs more per message than the server measures only itself. A
/// profile of <c>parley bench broadcast --clients 1000</c> with the bench on
/// <see cref="ParleyClient"/> (docs/benchmarks.md) showed the bench using a full core, most of
/// it in the general client's receive machinery (pipe segments, a separate message pump,
/// two thread-pool hops per read); this loop does one read and one pass over the bytes.
/// Nothing here is shared between connections, so handlers need no locks.
/// </remarks>
internal abstract class BenchSocket : IAsyncDisposable
{
    private const int MinimumBufferSize = 16 * 1024;

    private readonly Socket _socket;
    private readonly SslStream? _tls;
    private readonly CompressionMiddleware? _compression;
    private readonly System.Buffers.ArrayBufferWriter<byte> _encoded = new();
    private readonly System.Buffers.ArrayBufferWriter<byte> _decoded = new();
    private readonly System.Buffers.ArrayBufferWriter<byte> _compressed = new();
    private byte[] _buffer;
    private Task? _receiving;

    private readonly bool _lines;

    /// <param name="link">A connected socket (with TLS over it, or not); this object owns it.</param>
    /// <param name="largestFrame">The largest payload expected (the buffer grows past it if needed).</param>
    /// <param name="lines">True for newline-delimited frames (the chat protocol) instead of length prefixes.</param>
    protected BenchSocket(BenchLink link, int largestFrame, bool lines = false)
    {
        _socket = link.Socket;
        _tls = link.Tls;
        _compression = link.Compression;
        _lines = lines;
        _buffer = new byte[Math.Max(MinimumBufferSize, 2 * (largestFrame + 4))];
    }

    /// <summary>True once the server closed the connection or a read failed.</summary>
    public bool Closed { get; private set; }

    /// <summary>Connects to the server under test (with TLS when it serves TLS), from <paramref name="local"/> when given.</summary>
    public static async Task<BenchLink> ConnectAsync(ServerUnderTest server, IPEndPoint? local, TimeSpan timeout, CancellationToken cancellationToken)
    {
        Socket socket = await ConnectAsync(server.EndPoint, local, timeout, cancellationToken);
        if (!server.Tls)
        {
            return new BenchLink(socket, null, server.Compression);
        }

#pragma warning disable CA2000 // Owned by the returned link, or disposed in the catch below.
        var tls = new SslStream(new NetworkStream(socket, ownsSocket: true));
#pragma warning restore CA2000
        try
        {
            string? pinned = server.CertificateHash;
            await tls.AuthenticateAsClientAsync(
                new SslClientAuthenticationOptions
                {
                    TargetHost = "localhost",

                    // The bench made the server's certificate itself: trust exactly that one. Against
                    // --target: the platform's validation, or anything with --insecure.
                    RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                        pinned is not null ? certificate?.GetCertHashString() == pinned : server.Insecure || errors == SslPolicyErrors.None,
                },
                cancellationToken);
            return new BenchLink(socket, tls, server.Compression);
        }
        catch
        {
            await tls.DisposeAsync();
            throw;
        }
    }

    /// <summary>Connects a socket to <paramref name="server"/>, from <paramref name="local"/> when given.</summary>
    public static async Task<Socket> ConnectAsync(IPEndPoint server, IPEndPoint? local, TimeSpan timeout, CancellationToken cancellationToken)
    {
        Socket? socket = new(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (local is not null)
            {
                socket.Bind(local);
            }

            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(timeout);
            try
            {
                await socket.ConnectAsync(server, deadline.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"connect to {server} timed out after {timeout.TotalSeconds:F0} s");
            }

            Socket connected = socket;
            socket = null;
            return connected;
        }
        finally
        {
            socket?.Dispose();
        }
    }

    /// <summary>Starts the receive loop.</summary>
    public void StartReceiving() => _receiving = ReceiveLoopAsync();

    /// <summary>Sends bytes that are already framed; completes when the OS took them.</summary>
    public async ValueTask SendAsync(ReadOnlyMemory<byte> framed, CancellationToken cancellationToken = default)
    {
        if (_compression is not null)
        {
            Compress(framed.Span);
            framed = _encoded.WrittenMemory; // one sender per socket at a time, so the buffer is free again after the await
        }

        if (_tls is not null)
        {
            await _tls.WriteAsync(framed, cancellationToken);
            return;
        }

        while (!framed.IsEmpty)
        {
            framed = framed[await _socket.SendAsync(framed, SocketFlags.None, cancellationToken)..];
        }
    }

    /// <summary>Sends bytes that are already framed, blocking until the OS took them.</summary>
    public void Send(ReadOnlySpan<byte> framed)
    {
        if (_compression is not null)
        {
            framed = Compress(framed);
        }

        if (_tls is not null)
        {
            _tls.Write(framed);
            return;
        }

        while (!framed.IsEmpty)
        {
            framed = framed[_socket.Send(framed)..];
        }
    }

    /// <summary>Re-frames already framed messages with each payload run through the compression middleware.</summary>
    private ReadOnlySpan<byte> Compress(ReadOnlySpan<byte> framed)
    {
        _encoded.ResetWrittenCount();
        System.Buffers.ArrayBufferWriter<byte> payload = _compressed;
        while (framed.Length >= 4)
        {
            int length = (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(framed);
            payload.ResetWrittenCount();
            _compression!.Encode(framed.Slice(4, length), payload);
            WriteHeader(_encoded.GetSpan(4), payload.WrittenCount);
            _encoded.Advance(4);
            System.Buffers.BuffersExtensions.Write(_encoded, payload.WrittenSpan);
            framed = framed[(4 + length)..];
        }

        return _encoded.WrittenSpan;
    }

    /// <summary>Writes <paramref name="payloadLength"/> as a frame header into <paramref name="destination"/>.</summary>
    public static void WriteHeader(Span<byte> destination, int payloadLength) =>
        BinaryPrimitives.WriteUInt32LittleEndian(destination, (uint)payloadLength);

    /// <summary>One frame's payload (keep-alives, which are empty, are skipped). Valid only during the call.</summary>
    protected abstract void OnFrame(ReadOnlySpan<byte> payload);

    /// <summary>Called after the frames of one read were handed out: the place to answer them in one send.</summary>
    protected virtual ValueTask OnReadCompletedAsync() => ValueTask.CompletedTask;

    /// <summary>Called once when the receive loop ends (the server closed the connection, a read failed, or the run is over).</summary>
    protected virtual void OnClosed()
    {
    }

    private async Task ReceiveLoopAsync()
    {
        int buffered = 0;
        try
        {
            while (true)
            {
                int read = _tls is null
                    ? await _socket.ReceiveAsync(_buffer.AsMemory(buffered), SocketFlags.None)
                    : await _tls.ReadAsync(_buffer.AsMemory(buffered));
                if (read == 0)
                {
                    break;
                }

                buffered += read;
                int consumed = _lines ? ParseLines(_buffer.AsSpan(0, buffered)) : ParseFrames(_buffer.AsSpan(0, buffered));
                buffered -= consumed;
                if (buffered > 0)
                {
                    _buffer.AsSpan(consumed, buffered).CopyTo(_buffer);
                }

                await OnReadCompletedAsync();
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or InvalidDataException or IOException)
        {
            // The run is ending, or the server dropped us: either way this connection is done.
        }
        finally
        {
            Closed = true;
            OnClosed();
        }
    }

    private int ParseLines(ReadOnlySpan<byte> bytes)
    {
        int offset = 0;
        while (true)
        {
            int newline = bytes[offset..].IndexOf((byte)'\n');
            if (newline < 0)
            {
                if (offset == 0 && bytes.Length == _buffer.Length)
                {
                    Array.Resize(ref _buffer, _buffer.Length * 2); // a line longer than the buffer
                }

                return offset;
            }

            ReadOnlySpan<byte> line = bytes.Slice(offset, newline);
            if (!line.IsEmpty && line[^1] == (byte)'\r')
            {
                line = line[..^1];
            }

            if (!line.IsEmpty)
            {
                OnFrame(line);
            }

            offset += newline + 1;
        }
    }

    private int ParseFrames(ReadOnlySpan<byte> bytes)
    {
        int offset = 0;
        while (bytes.Length - offset >= 4)
        {
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(bytes[offset..]);
            if (length > (uint)(_buffer.Length - 4))
            {
                if (offset > 0)
                {
                    break; // Move what is left to the front first; the frame may still fit.
                }

                if (length > 64 * 1024 * 1024)
                {
                    throw new InvalidDataException($"frame of {length} bytes from the server");
                }

                Array.Resize(ref _buffer, (int)length + 4);
                break;
            }

            if (bytes.Length - offset - 4 < length)
            {
                break;
            }

            if (length > 0 && _compression is null)
            {
                OnFrame(bytes.Slice(offset + 4, (int)length));
            }
            else if (length > 0)
            {
                _decoded.ResetWrittenCount();
                _compression!.Decode(new System.Buffers.ReadOnlySequence<byte>(_buffer, offset + 4, (int)length), _decoded, 64 * 1024 * 1024);
                OnFrame(_decoded.WrittenSpan);
            }

            offset += 4 + (int)length;
        }

        return offset;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
            // Already gone.
        }

        _socket.Dispose();
        _tls?.Dispose();
        if (_receiving is not null)
        {
            await _receiving;
        }
    }
}

/// <summary>A bench connection: the socket, and the TLS stream over it when the server speaks TLS.</summary>
/// <param name="Socket">The connected socket.</param>
/// <param name="Tls">The TLS stream over it, when the server speaks TLS.</param>
/// <param name="Compression">The payload compression both ends use, if any (length-prefixed framing only).</param>
internal sealed record BenchLink(Socket Socket, SslStream? Tls, CompressionMiddleware? Compression = null);
