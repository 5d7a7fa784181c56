using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Parley.Http.Tests;

/// <summary>A static file server on 127.0.0.1:0 over a fresh folder, and raw-socket clients for it.</summary>
internal sealed class HttpHarness : IAsyncDisposable
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private HttpHarness(string root, HttpServer server, StaticFileHandler files)
    {
        Root = root;
        Server = server;
        Files = files;
    }

    public string Root { get; }

    public HttpServer Server { get; }

    public StaticFileHandler Files { get; }

    public IPEndPoint EndPoint => (IPEndPoint)Server.EndPoints[0]!;

    public static async Task<HttpHarness> StartAsync(Action<HttpServerOptions>? configure = null, Action<StaticFileOptions>? files = null, Action<string>? populate = null)
    {
        string root = Directory.CreateTempSubdirectory("parley-http-").FullName;
        File.WriteAllText(Path.Combine(root, "hello.txt"), "Hello, world!");
        File.WriteAllText(Path.Combine(root, "index.html"), "<html><body>index</body></html>");
        Directory.CreateDirectory(Path.Combine(root, "docs"));
        File.WriteAllText(Path.Combine(root, "docs", "index.html"), "docs index");
        populate?.Invoke(root);
        var fileOptions = new StaticFileOptions { Root = root };
        files?.Invoke(fileOptions);
        var handler = new StaticFileHandler(fileOptions);
        var options = new HttpServerOptions { Fallback = handler };
        options.Listen(new SocketConnectionListener(new IPEndPoint(IPAddress.Loopback, 0)));
        configure?.Invoke(options);
        var server = new HttpServer(options);
        await server.StartAsync();
        return new HttpHarness(root, server, handler);
    }

    public async Task<RawClient> ConnectAsync()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(EndPoint).WaitAsync(Patience);
        return new RawClient(socket);
    }

    /// <summary>One request on a new connection, its response.</summary>
    public async Task<HttpReply> GetAsync(string request, bool head = false)
    {
        using RawClient client = await ConnectAsync();
        await client.SendAsync(request);
        return await client.ReadReplyAsync(head);
    }

    /// <summary>Waits (bounded) until some connection of the server is in <paramref name="phase"/>:
    /// phases change on the server's threads, and a test about a timeout must first know the
    /// connection is where that timeout applies.</summary>
    public async Task WaitForPhaseAsync(string phase)
    {
        long start = Environment.TickCount64;
        while (!Server.DescribeConnections().Contains(phase))
        {
            Assert.True(Environment.TickCount64 - start < Patience.TotalMilliseconds, $"No connection reached {phase}: {string.Join(", ", Server.DescribeConnections())}");
            await Task.Delay(10);
        }
    }

    public async ValueTask DisposeAsync()
    {
        using var grace = new CancellationTokenSource(Patience);
        await Server.StopAsync(grace.Token);
        await Server.DisposeAsync();
        Files.Dispose();
        Directory.Delete(Root, recursive: true);
    }
}

/// <summary>A response as a client sees it.</summary>
internal sealed record HttpReply(int Status, string StatusLine, Dictionary<string, string> Headers, byte[] Body)
{
    public string Text => Encoding.UTF8.GetString(Body);

    public string? this[string name] => Headers.TryGetValue(name, out string? value) ? value : null;
}

/// <summary>A client over a raw socket that parses responses itself (Content-Length bodies only).</summary>
internal sealed class RawClient(Socket socket) : IDisposable
{
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    public Socket Socket => socket;

    public Task SendAsync(string request) => SendAsync(Encoding.Latin1.GetBytes(request));

    public async Task SendAsync(ReadOnlyMemory<byte> bytes) => await socket.SendAsync(bytes).AsTask().WaitAsync(HttpHarness.Patience);

    public async Task<HttpReply> ReadReplyAsync(bool head = false)
    {
        int headEnd;
        while ((headEnd = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8)) < 0)
        {
            if (await FillAsync() == 0)
            {
                throw new EndOfStreamException($"The connection ended before a response head ({_end - _start} bytes pending).");
            }
        }

        string headText = Encoding.Latin1.GetString(_buffer, _start, headEnd);
        _start += headEnd + 4;
        string[] lines = headText.Split("\r\n");
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (string line in lines.Skip(1))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            headers[line[..colon]] = line[(colon + 1)..].Trim();
        }

        int status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        int length = head || status is 304 or 204 ? 0 : int.Parse(headers["Content-Length"], System.Globalization.CultureInfo.InvariantCulture);
        byte[] body = new byte[length];
        int copied = 0;
        while (copied < length)
        {
            if (_start == _end && await FillAsync() == 0)
            {
                throw new EndOfStreamException($"The connection ended {length - copied} bytes into a body.");
            }

            int take = Math.Min(length - copied, _end - _start);
            _buffer.AsSpan(_start, take).CopyTo(body.AsSpan(copied));
            copied += take;
            _start += take;
        }

        return new HttpReply(status, lines[0], headers, body);
    }

    /// <summary>True when the server closed (a FIN, or a reset) with nothing more sent.</summary>
    public async Task<bool> ClosedAsync()
    {
        try
        {
            return _start == _end && await FillAsync() == 0;
        }
        catch (SocketException)
        {
            return true;
        }
    }

    /// <summary>Bytes left unread after the responses read so far (none expected).</summary>
    public int Pending => _end - _start;

    public void Dispose() => socket.Dispose();

    private async Task<int> FillAsync()
    {
        if (_start == _end)
        {
            _start = _end = 0;
        }

        if (_end == _buffer.Length)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        int read = await socket.ReceiveAsync(_buffer.AsMemory(_end)).AsTask().WaitAsync(HttpHarness.Patience);
        _end += read;
        return read;
    }
}
