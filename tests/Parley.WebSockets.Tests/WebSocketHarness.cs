using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Parley.Http;

namespace Parley.WebSockets.Tests;

/// <summary>
/// An HTTP server on 127.0.0.1:0 with a <see cref="WebSocketListener"/> at /ws feeding a Parley
/// server that echoes every message back (and records each connection's close), plus raw-socket
/// clients that write frames by hand — masked or not, split, broken — and read the server's.
/// </summary>
internal sealed class WebSocketHarness : IAsyncDisposable
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private WebSocketHarness(HttpServer http, ParleyServer sessions, WebSocketListener listener, ConcurrentQueue<Connection> closed)
    {
        Http = http;
        Sessions = sessions;
        Listener = listener;
        Closed = closed;
    }

    public HttpServer Http { get; }

    public ParleyServer Sessions { get; }

    public WebSocketListener Listener { get; }

    public MessageFramer Framer { get; private init; } = null!;

    public IPEndPoint EndPoint => (IPEndPoint)Http.EndPoints[0]!;

    public Uri Uri => new($"ws://127.0.0.1:{EndPoint.Port}/ws");

    /// <summary>Connections that closed, with their reasons, in order.</summary>
    public ConcurrentQueue<Connection> Closed { get; }

    public static async Task<WebSocketHarness> StartAsync(Action<WebSocketOptions>? configure = null, Action<ParleyServerOptions>? server = null, Action<HttpServerOptions>? http = null)
    {
        var options = new WebSocketOptions { MaxMessageSize = 1024 };
        configure?.Invoke(options);
        var listener = new WebSocketListener(options);
        var serverOptions = new ParleyServerOptions { Framer = options.CreateFramer(), CloseTimeout = TimeSpan.FromSeconds(2) };
        serverOptions.Listen(listener);
        server?.Invoke(serverOptions);
        var sessions = new ParleyServer(serverOptions);
        var closed = new ConcurrentQueue<Connection>();
        sessions.MessageReceived += (connection, message) => connection.Send(message);
        sessions.Disconnected += closed.Enqueue;
        sessions.Start();

        var httpOptions = new HttpServerOptions();
        httpOptions.Listen(new SocketConnectionListener(new IPEndPoint(IPAddress.Loopback, 0)));
        httpOptions.Map("/ws", listener.Handler);
        http?.Invoke(httpOptions);
        var httpServer = new HttpServer(httpOptions);
        await httpServer.StartAsync();
        return new WebSocketHarness(httpServer, sessions, listener, closed) { Framer = serverOptions.Framer };
    }

    public async ValueTask DisposeAsync()
    {
        await Http.DisposeAsync();
        await Sessions.DisposeAsync();
    }

    /// <summary>Waits until a connection has closed and returns it.</summary>
    public async Task<Connection> WaitForCloseAsync()
    {
        using var deadline = new CancellationTokenSource(Patience);
        while (!Closed.TryPeek(out _))
        {
            await Task.Delay(10, deadline.Token);
        }

        Closed.TryDequeue(out Connection? closed);
        return closed!;
    }

    /// <summary>A raw TCP client, not yet upgraded.</summary>
    public async Task<RawClient> ConnectRawAsync()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(EndPoint);
        return new RawClient(socket);
    }

    /// <summary>A raw client that completed the handshake.</summary>
    public async Task<RawClient> UpgradeAsync(string? extraHeaders = null)
    {
        RawClient client = await ConnectRawAsync();
        string response = await client.RequestAsync(HandshakeRequest(EndPoint, extraHeaders: extraHeaders));
        Assert.StartsWith("HTTP/1.1 101 ", response, StringComparison.Ordinal);
        return client;
    }

    public static string NewKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));

    public static string HandshakeRequest(IPEndPoint endPoint, string? key = null, string version = "13", string? extraHeaders = null, string method = "GET", bool upgrade = true) =>
        $"{method} /ws HTTP/1.1\r\nHost: 127.0.0.1:{endPoint.Port}\r\n" +
        (upgrade ? "Upgrade: websocket\r\nConnection: Upgrade\r\n" : "") +
        $"Sec-WebSocket-Key: {key ?? NewKey()}\r\nSec-WebSocket-Version: {version}\r\n{extraHeaders}\r\n";

    /// <summary>Encodes a client frame: masked with a random key unless <paramref name="masked"/> is false.</summary>
    public static byte[] ClientFrame(byte opcode, ReadOnlySpan<byte> payload, bool fin = true, bool masked = true, byte rsv = 0)
    {
        int lengthBytes = payload.Length < 126 ? 0 : payload.Length <= ushort.MaxValue ? 2 : 8;
        byte[] frame = new byte[2 + lengthBytes + (masked ? 4 : 0) + payload.Length];
        frame[0] = (byte)((fin ? 0x80 : 0) | rsv | opcode);
        byte mask = masked ? (byte)0x80 : (byte)0;
        int at = 2;
        if (lengthBytes == 0)
        {
            frame[1] = (byte)(mask | payload.Length);
        }
        else if (lengthBytes == 2)
        {
            frame[1] = (byte)(mask | 126);
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), (ushort)payload.Length);
            at = 4;
        }
        else
        {
            frame[1] = (byte)(mask | 127);
            BinaryPrimitives.WriteUInt64BigEndian(frame.AsSpan(2), (ulong)payload.Length);
            at = 10;
        }

        byte[] key = masked ? RandomNumberGenerator.GetBytes(4) : [0, 0, 0, 0];
        if (masked)
        {
            key.CopyTo(frame, at);
            at += 4;
        }

        for (int i = 0; i < payload.Length; i++)
        {
            frame[at + i] = (byte)(payload[i] ^ key[i & 3]);
        }

        return frame;
    }

    public static byte[] CloseFrame(int code, string reason = "", bool masked = true)
    {
        byte[] body = new byte[2 + Encoding.UTF8.GetByteCount(reason)];
        BinaryPrimitives.WriteUInt16BigEndian(body, (ushort)code);
        Encoding.UTF8.GetBytes(reason, body.AsSpan(2));
        return ClientFrame(8, body, masked: masked);
    }
}

/// <summary>One server frame as read off the wire.</summary>
internal sealed record ServerFrame(bool Fin, byte Opcode, bool Masked, byte[] Payload)
{
    public string Text => Encoding.UTF8.GetString(Payload);

    public int CloseCode => Payload.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(Payload) : 1005;
}

internal sealed class RawClient(Socket socket) : IAsyncDisposable
{
    private readonly byte[] _buffer = new byte[256 * 1024];
    private int _start;
    private int _end;

    public Socket Socket => socket;

    public Task SendAsync(byte[] bytes) => socket.SendAsync(bytes);

    public Task SendAsync(string text) => SendAsync(Encoding.UTF8.GetBytes(text));

    /// <summary>Sends a request and reads the response head (and a body of its Content-Length).</summary>
    public async Task<string> RequestAsync(string request)
    {
        await SendAsync(request);
        using var deadline = new CancellationTokenSource(WebSocketHarness.Patience);
        while (true)
        {
            int end = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8);
            if (end >= 0)
            {
                string head = Encoding.ASCII.GetString(_buffer, _start, end + 4);
                _start += end + 4;
                int length = ContentLength(head);
                while (_end - _start < length)
                {
                    await FillAsync(deadline.Token);
                }

                string body = Encoding.UTF8.GetString(_buffer, _start, length);
                _start += length;
                return head + body;
            }

            if (!await FillAsync(deadline.Token))
            {
                return Encoding.ASCII.GetString(_buffer, _start, _end - _start);
            }
        }
    }

    /// <summary>Reads the next server frame; null when the server closed the connection.</summary>
    public async Task<ServerFrame?> ReadFrameAsync()
    {
        using var deadline = new CancellationTokenSource(WebSocketHarness.Patience);
        while (true)
        {
            if (TryParse(out ServerFrame? frame))
            {
                return frame;
            }

            if (!await FillAsync(deadline.Token))
            {
                return null;
            }
        }
    }

    /// <summary>True when the server ends the stream (FIN or reset) before sending anything more.</summary>
    public async Task<bool> ReadEndAsync()
    {
        using var deadline = new CancellationTokenSource(WebSocketHarness.Patience);
        try
        {
            return _end == _start && !await FillAsync(deadline.Token);
        }
        catch (SocketException)
        {
            return true;
        }
    }

    private bool TryParse(out ServerFrame? frame)
    {
        frame = null;
        ReadOnlySpan<byte> data = _buffer.AsSpan(_start, _end - _start);
        if (data.Length < 2)
        {
            return false;
        }

        int code = data[1] & 0x7F;
        int at = 2;
        long length = code;
        if (code == 126)
        {
            if (data.Length < 4)
            {
                return false;
            }

            length = BinaryPrimitives.ReadUInt16BigEndian(data[2..]);
            at = 4;
        }
        else if (code == 127)
        {
            if (data.Length < 10)
            {
                return false;
            }

            length = (long)BinaryPrimitives.ReadUInt64BigEndian(data[2..]);
            at = 10;
        }

        bool masked = (data[1] & 0x80) != 0;
        at += masked ? 4 : 0;
        if (data.Length < at + length)
        {
            return false;
        }

        frame = new ServerFrame((data[0] & 0x80) != 0, (byte)(data[0] & 0x0F), masked, data.Slice(at, (int)length).ToArray());
        _start += at + (int)length;
        return true;
    }

    private async Task<bool> FillAsync(CancellationToken cancellationToken)
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        int read = await socket.ReceiveAsync(_buffer.AsMemory(_end), cancellationToken);
        _end += read;
        return read > 0;
    }

    private static int ContentLength(string head)
    {
        foreach (string line in head.Split("\r\n"))
        {
            if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
            {
                return int.Parse(line["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    public ValueTask DisposeAsync()
    {
        socket.Dispose();
        return default;
    }
}
