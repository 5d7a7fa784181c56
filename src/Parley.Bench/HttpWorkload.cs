using System.Buffers.Text;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Spectre.Console;

namespace Parley.Bench;

/// <summary>What <c>parley bench http</c> was asked to do.</summary>
internal sealed record HttpBenchSettings(int Connections, int Pipeline, string Path, TimeSpan Duration);

/// <summary>
/// wrk's methodology: C keep-alive connections, each sending a GET for one path (P pipelined
/// at once) and sending the next as soon as the responses are in, until the time is up.
/// Reports requests and bytes per second, latency per request, and non-2xx responses.
/// </summary>
internal static class HttpWorkload
{
    private static readonly TimeSpan Warmup = TimeSpan.FromSeconds(1);

    /// <summary>The files a child <c>parley http</c> serves: a 13-byte page (wrk's usual test) and a 100 KB file.</summary>
    public static string CreateSite()
    {
        string root = Directory.CreateTempSubdirectory("parley-bench-http-").FullName;
        File.WriteAllText(System.IO.Path.Combine(root, "index.html"), "<p>Hello</p>\n");
        byte[] large = new byte[100 * 1024];
        new Random(19).NextBytes(large);
        File.WriteAllBytes(System.IO.Path.Combine(root, "100k.bin"), large);
        return root;
    }

    public static async Task<BenchResult> RunAsync(HttpBenchSettings settings, ServerUnderTest server, IAnsiConsole console, CancellationToken cancellationToken)
    {
        string host = server.EndPoint.Address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{server.EndPoint.Address}]" : server.EndPoint.Address.ToString();
        byte[] request = Encoding.ASCII.GetBytes($"GET {settings.Path} HTTP/1.1\r\nHost: {host}:{server.EndPoint.Port}\r\nUser-Agent: parley-bench\r\n\r\n");
        byte[] batch = [.. Enumerable.Repeat(request, settings.Pipeline).SelectMany(r => r)];

        console.MarkupLineInterpolated($"connecting {settings.Connections} keep-alive connections to {server.EndPoint} …");
        var clients = new List<HttpClientLoop>();
        int failures = 0;
        long connectStart = Stopwatch.GetTimestamp();
        foreach (int _ in Enumerable.Range(0, settings.Connections))
        {
            var client = new HttpClientLoop(batch, settings.Pipeline);
            try
            {
                await client.ConnectAsync(server.EndPoint, cancellationToken);
                clients.Add(client);
            }
            catch (SocketException)
            {
                failures++;
                client.Dispose();
            }
        }

        double connectRate = clients.Count / Math.Max(Stopwatch.GetElapsedTime(connectStart).TotalSeconds, 1e-6);
        if (clients.Count == 0)
        {
            throw new InvalidOperationException($"no connection to {server.EndPoint} could be opened ({failures} refused)");
        }

        try
        {
            Task[] loops = [.. clients.Select(c => c.RunAsync())];
            await Task.Delay(Warmup, cancellationToken);
            server.Sampler?.Reset();
            foreach (HttpClientLoop client in clients)
            {
                client.BeginMeasuring();
            }

            long start = Stopwatch.GetTimestamp();
            while (Stopwatch.GetElapsedTime(start) < settings.Duration && !clients.All(c => c.Closed))
            {
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
                long sofar = clients.Sum(c => c.Responses);
                BenchReport.Progress(console, $"http {Stopwatch.GetElapsedTime(start).TotalSeconds:F0}/{settings.Duration.TotalSeconds:F0}s  {sofar / Stopwatch.GetElapsedTime(start).TotalSeconds:N0} req/s", server);
            }

            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            foreach (HttpClientLoop client in clients)
            {
                client.Stop();
            }

            await Task.WhenAll(loops).WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).ConfigureAwait(false);
            long responses = clients.Sum(c => c.Responses);
            if (responses == 0)
            {
                string why = clients.Select(c => c.Failure).FirstOrDefault(f => f is not null) ?? "no response";
                throw new InvalidOperationException($"no response came back from {server.EndPoint}: {why}");
            }

            var histogram = new LatencyHistogram();
            foreach (HttpClientLoop client in clients)
            {
                histogram.Add(client.Histogram);
            }

            return new BenchResult
            {
                Workload = "http",
                Clients = clients.Count,
                DurationS = Math.Round(seconds, 2),
                SizeBytes = (int)(clients.Sum(c => c.BodyBytes) / Math.Max(1, responses)),
                Inflight = settings.Pipeline,
                Expected = clients.Sum(c => c.Sent),
                Delivered = responses,
                Errors = clients.Sum(c => c.NonSuccess),
                Lost = clients.Count(c => c.Failure is not null),
                MsgsPerS = Math.Round(responses / seconds),
                MibPerS = Math.Round(clients.Sum(c => c.Bytes) / seconds / (1024 * 1024), 2),
                ConnectPerS = Math.Round(connectRate),
                ConnectFailures = failures,
                LatencyMs = LatencyMs.From(histogram),
                Server = BenchReport.ServerStats(server),
                Profile = settings.Path,
            };
        }
        finally
        {
            foreach (HttpClientLoop client in clients)
            {
                client.Dispose();
            }
        }
    }

    /// <summary>
    /// One keep-alive connection: send a batch, read its responses (status line, Content-Length
    /// bodies), repeat. A response head is parsed in the receive buffer; nothing is allocated per request.
    /// </summary>
    private sealed class HttpClientLoop(byte[] batch, int pipeline) : IDisposable
    {
        private readonly Socket _socket = new(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true, NoDelay = true };
        private readonly byte[] _buffer = new byte[256 * 1024];
        private volatile bool _stopping;
        private volatile bool _measuring;
        private int _start;
        private int _end;
        private long _sent;
        private long _responses;
        private long _bytes;
        private long _bodyBytes;
        private long _nonSuccess;

        public LatencyHistogram Histogram { get; } = new();

        public long Sent => Interlocked.Read(ref _sent);

        public long Responses => Interlocked.Read(ref _responses);

        public long Bytes => Interlocked.Read(ref _bytes);

        public long BodyBytes => Interlocked.Read(ref _bodyBytes);

        public long NonSuccess => Interlocked.Read(ref _nonSuccess);

        public bool Closed { get; private set; }

        public string? Failure { get; private set; }

        public async Task ConnectAsync(IPEndPoint endPoint, CancellationToken cancellationToken) =>
            await _socket.ConnectAsync(endPoint, cancellationToken);

        public void BeginMeasuring() => _measuring = true;

        public void Stop() => _stopping = true;

        public async Task RunAsync()
        {
            try
            {
                while (!_stopping)
                {
                    long sentAt = Stopwatch.GetTimestamp();
                    await _socket.SendAsync(batch, SocketFlags.None);
                    bool measuring = _measuring;
                    if (measuring)
                    {
                        Interlocked.Add(ref _sent, pipeline);
                    }

                    for (int i = 0; i < pipeline; i++)
                    {
                        (int status, int total, int body) = await ReadResponseAsync();
                        if (!measuring)
                        {
                            continue;
                        }

                        Histogram.Record((long)Stopwatch.GetElapsedTime(sentAt).TotalMicroseconds);
                        Interlocked.Increment(ref _responses);
                        Interlocked.Add(ref _bytes, total);
                        Interlocked.Add(ref _bodyBytes, body);
                        if (status is < 200 or > 299)
                        {
                            Interlocked.Increment(ref _nonSuccess);
                        }
                    }
                }
            }
            catch (Exception ex) when (ex is SocketException or InvalidDataException or EndOfStreamException or ObjectDisposedException)
            {
                Failure = ex.Message;
                Closed = true;
            }
        }

        // One response: its status, its size on the wire and its body's size.
        private async ValueTask<(int Status, int Total, int Body)> ReadResponseAsync()
        {
            int headEnd;
            while ((headEnd = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8)) < 0)
            {
                await FillAsync();
            }

            ReadOnlySpan<byte> head = _buffer.AsSpan(_start, headEnd);
            if (head.Length < 12 || !head.StartsWith("HTTP/1."u8) || !Utf8Parser.TryParse(head[9..12], out int status, out _))
            {
                throw new InvalidDataException("not an HTTP/1.x response");
            }

            int body = ContentLength(head);
            int total = headEnd + 4 + body;
            _start += headEnd + 4;
            int remaining = body;
            while (remaining > 0)
            {
                if (_start == _end)
                {
                    await FillAsync();
                }

                int take = Math.Min(remaining, _end - _start);
                _start += take;
                remaining -= take;
            }

            return (status, total, body);
        }

        private static int ContentLength(ReadOnlySpan<byte> head)
        {
            while (true)
            {
                int lineFeed = head.IndexOf((byte)'\n');
                if (lineFeed < 0)
                {
                    throw new InvalidDataException("a response without Content-Length (this bench reads only those)");
                }

                head = head[(lineFeed + 1)..];
                if (head.Length > 15 && Ascii.EqualsIgnoreCase(head[..15], "Content-Length:"u8))
                {
                    ReadOnlySpan<byte> value = head[15..];
                    int end = value.IndexOf((byte)'\r');
                    value = (end < 0 ? value : value[..end]).Trim((byte)' ');
                    return Utf8Parser.TryParse(value, out int length, out int used) && used == value.Length
                        ? length
                        : throw new InvalidDataException("a bad Content-Length");
                }
            }
        }

        private async ValueTask FillAsync()
        {
            if (_start == _end)
            {
                _start = _end = 0;
            }
            else if (_end == _buffer.Length)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }

            int read = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None);
            if (read == 0)
            {
                throw new EndOfStreamException("the server closed the connection");
            }

            _end += read;
        }

        public void Dispose() => _socket.Dispose();
    }
}
