using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace Parley.Bench;

/// <summary>Writes a throw-away TLS certificate for localhost (PKCS #12, no password) to
/// <paramref name="path"/> and returns its SHA-1 hash, which the bench's clients pin. The CLI
/// supplies it (its <c>parley cert</c> code makes certificates; the workloads do not).</summary>
internal delegate Task<string> CertificateWriter(string path, CancellationToken cancellationToken);

/// <summary>
/// The server a benchmark runs against: by default a <c>parley echo</c> child process started
/// here (and stopped with SIGTERM afterwards), or an already running one given by
/// <c>--target</c>. Its memory and CPU are sampled when its process id is known.
/// </summary>
internal sealed partial class ServerUnderTest : IAsyncDisposable
{
    private readonly Process? _child;

    private string? _certificateFile;

    private ServerUnderTest(IPEndPoint endPoint, Process? child, int? pid)
    {
        EndPoint = endPoint;
        _child = child;
        Sampler = pid is int id ? new ResourceSampler(id) : null;
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>The nodes of a cluster (<c>--targets</c>), clients spread over them in turn; just <see cref="EndPoint"/> otherwise.</summary>
    public IReadOnlyList<IPEndPoint> Targets { get; private init; } = [];

    /// <summary>Where client <paramref name="index"/> connects: the nodes in turn (−1, a probe: the first).</summary>
    public IPEndPoint EndPointFor(int index) => Targets.Count > 1 && index >= 0 ? Targets[index % Targets.Count] : EndPoint;

    /// <summary>The payload compression the server was started with (<c>--compress</c>), for the clients to match.</summary>
    public CompressionMiddleware? Compression { get; init; }

    /// <summary>With --target and --tls: accept any server certificate (--insecure).</summary>
    public bool Insecure { get; init; }

    /// <summary>The server speaks TLS.</summary>
    public bool Tls { get; private init; }

    /// <summary>A chat server (text messages over WebSocket), not an echo server.</summary>
    public bool Chat { get; internal set; }

    /// <summary>An ASP.NET Core SignalR hub (bench/SignalRHub): messages travel as JSON-protocol
    /// invocations of <c>Broadcast</c>, base64 inside, over WebSocket text messages.</summary>
    public bool SignalR { get; internal set; }

    /// <summary>Where clients open WebSocket connections (<see cref="EndPoint"/> is then that address); null for framed TCP.</summary>
    public Uri? WebSocket { get; internal set; }

    /// <summary>The address clients dial: the WebSocket's when there is one.</summary>
    public IPEndPoint DialEndPoint => WebSocket is { } uri ? new IPEndPoint(IPAddress.Parse(uri.Host), uri.Port) : EndPoint;

    /// <summary>The SHA-1 hash of the certificate the bench made for its child server, to pin it; null against --target.</summary>
    public string? CertificateHash { get; private init; }

    public ResourceSampler? Sampler { get; }

    private readonly Lock _partsLock = new();
    private ServerMemoryParts? _parts;

    /// <summary>The largest memory figures the child server's summary lines gave so far; null without them.</summary>
    public ServerMemoryParts? MemoryParts
    {
        get
        {
            lock (_partsLock)
            {
                return _parts;
            }
        }
    }

    /// <summary>Takes in one of the child's summary lines: keeps the largest of each figure.</summary>
    private void OnSummary(Match summary)
    {
        double Figure(string name) => double.Parse(summary.Groups[name].Value, CultureInfo.InvariantCulture);
        var parts = new ServerMemoryParts(Figure("heap"), Figure("inuse"), Figure("pooled"), Figure("history"));
        lock (_partsLock)
        {
            _parts = _parts is null ? parts : new ServerMemoryParts(
                Math.Max(_parts.GcHeapMb, parts.GcHeapMb),
                Math.Max(_parts.BuffersInUseKb, parts.BuffersInUseKb),
                Math.Max(_parts.BuffersPooledKb, parts.BuffersPooledKb),
                Math.Max(_parts.HistoryKb, parts.HistoryKb));
        }
    }

    /// <summary>
    /// The error for a run in which nothing came back: a server started with TLS or compression
    /// answers a bench without the matching flag with nothing at all (a failed handshake, an
    /// undecodable message), so the likely cause is named with the flag that fixes it.
    /// </summary>
    /// <param name="workload">The workload (chat servers have no compression).</param>
    public string NothingCameBack(string workload) => $"no message came back from {EndPoint}: {Hint(workload)}";

    /// <summary>The likely cause of a run in which the server answered nothing, with the flag that fixes it.</summary>
    public string Hint(string workload)
    {
        if (_child is not null)
        {
            return "the server the bench started answered nothing (see its output above).";
        }

        var features = new List<string>();
        var flags = new List<string>();
        if (!Tls)
        {
            features.Add("--tls-cert");
            flags.Add("--tls (with --insecure for a self-signed certificate)");
        }

        if (Compression is null && workload != "chat")
        {
            features.Add("--compress");
            flags.Add("--compress zlib|brotli, as the server");
        }

        string server = workload == "chat" ? "parley serve" : "parley echo";
        return features.Count == 0
            ? $"is it a '{server}' with the same settings{(workload == "broadcast" ? " and --mode broadcast" : "")}?"
            : $"does the server use {string.Join(" or ", features)}? The bench must match it: {string.Join("; ", flags)}.";
    }

    /// <summary>A <c>parley echo</c> server in <paramref name="mode"/> (<c>--compress</c>
    /// <paramref name="compress"/>, the clients using <paramref name="compression"/>; with
    /// <paramref name="tls"/>, a certificate from <paramref name="writeCertificate"/>), or the target.</summary>
    public static async Task<ServerUnderTest> StartAsync(
        string mode, int clients, string? target, int? serverPid, bool tls, string? compress, CompressionMiddleware? compression, bool insecure, CertificateWriter? writeCertificate, CancellationToken cancellationToken, bool webSocket = false)
    {
        string[] arguments = ["echo", "--port", "0", "--mode", mode, "--log-level", "Warning", "--summary-interval", "3600", "--max-connections", (clients + 100).ToString(CultureInfo.InvariantCulture),
            "--max-connections-per-address", (clients + 100).ToString(CultureInfo.InvariantCulture),
            "--max-handshakes-per-address", (clients + 100).ToString(CultureInfo.InvariantCulture)];
        if (compress is not null)
        {
            arguments = [.. arguments, "--compress", compress];
        }

        if (webSocket)
        {
            arguments = [.. arguments, "--transport", "ws"];
        }

        return await StartAsync(arguments, target, serverPid, tls, cancellationToken, compression, insecure, writeCertificate);
    }

    /// <summary>A <c>parley</c> child process run with <paramref name="arguments"/> (it must print "listening on host:port"), or the target.</summary>
    public static async Task<ServerUnderTest> StartAsync(
        string[] arguments, string? target, int? serverPid, bool tls, CancellationToken cancellationToken, CompressionMiddleware? compression = null, bool insecure = false, CertificateWriter? writeCertificate = null)
    {
        if (target is not null)
        {
            IPEndPoint[] targets = [.. target.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(ParseTarget)];
            return new ServerUnderTest(targets[0], null, serverPid) { Tls = tls, Compression = compression, Insecure = insecure, Targets = targets };
        }

        string? certificateFile = null;
        string? hash = null;
        if (tls)
        {
            // A throw-away certificate for this run; the clients pin exactly it.
            if (writeCertificate is null)
            {
                throw new ArgumentNullException(nameof(writeCertificate), "a TLS child server needs a certificate writer");
            }

            certificateFile = Path.Combine(Path.GetTempPath(), $"parley-bench-{Guid.NewGuid():N}.pfx");
            hash = await writeCertificate(certificateFile, cancellationToken);
            arguments = [.. arguments, "--tls-cert", certificateFile];
        }

        var child = Process.Start(SelfProcess.StartInfo(arguments, redirectStandardError: true)) ?? throw new InvalidOperationException("could not start the server process");
        var listening = new TaskCompletionSource<IPEndPoint>(TaskCreationOptions.RunContinuationsAsynchronously);
        ServerUnderTest? started = null; // set once listening: summary lines come after
        var output = new List<string>();
        child.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            Match match = ListeningLine().Match(e.Data);
            if (match.Success)
            {
                listening.TrySetResult(new IPEndPoint(IPAddress.Parse(match.Groups[1].Value), int.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture)));
            }
            else if (!listening.Task.IsCompleted)
            {
                lock (output)
                {
                    output.Add(e.Data);
                }
            }
            else if (SummaryLine().Match(e.Data) is { Success: true } summary)
            {
                Volatile.Read(ref started)?.OnSummary(summary);
            }
            else if (!InformationLine().IsMatch(e.Data))
            {
                // Warnings from the server under test (slow consumers, errors) belong in the bench's output.
                Console.Error.WriteLine($"[server] {e.Data}");
            }
        };
        child.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                Console.Error.WriteLine($"[server] {e.Data}");
            }
        };
        child.BeginOutputReadLine();
        child.BeginErrorReadLine();

        try
        {
            IPEndPoint endPoint = await listening.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
            var server = new ServerUnderTest(endPoint, child, child.Id) { Tls = tls, CertificateHash = hash, _certificateFile = certificateFile, Compression = compression };
            Volatile.Write(ref started, server);
            return server;
        }
        catch
        {
            child.Kill(entireProcessTree: true);
            child.Dispose();
            throw new InvalidOperationException("the server did not start: " + string.Join('\n', output));
        }
    }

    private static IPEndPoint ParseTarget(string target) =>
        TryParseTarget(target, out IPEndPoint? endPoint) ? endPoint : throw new ArgumentException($"--target: '{target}' is not host:port");

    public static bool TryParseTarget(string target, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IPEndPoint? endPoint)
    {
        endPoint = null;
        int colon = target.LastIndexOf(':');
        if (colon <= 0
            || !int.TryParse(target[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int port)
            || port is < 1 or > IPEndPoint.MaxPort)
        {
            return false;
        }

        string host = target[..colon].Trim('[', ']');
        IPAddress? address = host == "localhost" ? IPAddress.Loopback : IPAddress.TryParse(host, out IPAddress? parsed) ? parsed : null;
        endPoint = address is null ? null : new IPEndPoint(address, port);
        return endPoint is not null;
    }

    public async ValueTask DisposeAsync()
    {
        if (Sampler is not null)
        {
            await Sampler.DisposeAsync();
        }

        if (_certificateFile is not null)
        {
            File.Delete(_certificateFile);
        }

        if (_child is null)
        {
            return;
        }

        if (!_child.HasExited)
        {
            _ = Kill(_child.Id, 15); // SIGTERM: the server shuts down in order
            try
            {
                await _child.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
            }
            catch (TimeoutException)
            {
                _child.Kill(entireProcessTree: true);
            }
        }

        _child.Dispose();
    }

    // parley serve's summary line (MetricsSummary): the parts of its memory.
    [GeneratedRegex(@"summary: .*gc heap=(?<heap>\d+) MiB .*buffers in use=(?<inuse>\d+) KiB pooled=(?<pooled>\d+) KiB \| history=(?<history>\d+) KiB")]
    private static partial Regex SummaryLine();

    // The console logger's single-line format: "HH:mm:ss.fff info: Category[id] …" (also dbug, trce).
    [GeneratedRegex(@"^\S* ?(info|dbug|trce): ")]
    private static partial Regex InformationLine();

    [GeneratedRegex(@"(?:serve|echo|http) listening on (\S+):(\d+)")] // not the web port's "HTTP server listening on"
    private static partial Regex ListeningLine();

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
