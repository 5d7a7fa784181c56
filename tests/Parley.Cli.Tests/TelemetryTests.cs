using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Parley.Chat;

namespace Parley.Cli.Tests;

/// <summary>Metrics export from the real executable: the Prometheus endpoint (<c>--metrics-port</c>)
/// and OTLP (<c>--otlp-endpoint</c>), checked against the instruments docs/operations.md lists.</summary>
public sealed partial class TelemetryTests : IDisposable
{
    private readonly string _data = Directory.CreateTempSubdirectory("parley-metrics-").FullName;

    public void Dispose() => Directory.Delete(_data, recursive: true);

    [Fact]
    public async Task The_prometheus_endpoint_serves_the_documented_instruments_after_traffic_and_nothing_undocumented()
    {
        int metricsPort = ServeWebTests.FreePort();
        (ParleyProcess server, IPEndPoint endPoint) = await ParleyProcess.StartServeAsync(
            "--data", _data, "--metrics-port", metricsPort.ToString(CultureInfo.InvariantCulture));
        await using (server)
        {
            await server.WaitForLineAsync($@"metrics for Prometheus at http://127\.0\.0\.1:{metricsPort}/metrics");
            await using (ChatClient client = await ChatClient.ConnectAsync(new ParleyClientOptions { RemoteEndPoint = endPoint, Framer = ChatProtocol.CreateClientFramer() }))
            {
                await client.JoinRoomAsync("general");
                await client.SendMessageAsync("general", "counted");
                await Assert.ThrowsAsync<ChatServerException>(() => client.JoinRoomAsync("no-such-room"));
            }

            using var http = new HttpClient();
            using HttpResponseMessage response = await http.GetAsync(new Uri($"http://127.0.0.1:{metricsPort}/metrics"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
            string text = await response.Content.ReadAsStringAsync();

            HashSet<string> served = [.. TypeLine().Matches(text).Select(match => match.Groups[1].Value)];
            Dictionary<string, string> documented = DocumentedPrometheusNames();

            // What one chat session that stored a message and was refused once must have moved.
            string[] expected =
            [
                "parley.connections.opened", "parley.connections.closed", "parley.connections.active", "parley.messages.received",
                "parley.messages.sent", "parley.writes", "parley.reads", "parley.bytes.received", "parley.bytes.sent",
                "parley.chat.sessions", "parley.chat.commands", "parley.chat.errors", "parley.chat.messages.received",
                "parley.chat.messages.delivered", "parley.chat.history.bytes",
                "parley.journal.commit.duration", "parley.journal.records.committed",
            ];
            foreach (string instrument in expected)
            {
                Assert.True(documented.ContainsKey(instrument), $"{instrument} is not in docs/operations.md");
                Assert.True(served.Contains(documented[instrument]), $"{documented[instrument]} ({instrument}) is not served:\n{text}");
            }

            foreach (string name in served.Where(name => name.StartsWith("parley_", StringComparison.Ordinal)))
            {
                Assert.True(documented.ContainsValue(name), $"{name} is served but docs/operations.md does not list it");
            }

            Assert.Matches(@"(?m)^parley_chat_messages_received_total\{[^}]*\} 1( |$)", text);
            Assert.Contains("dotnet_gc_heap_total_allocated_bytes_total", text, StringComparison.Ordinal); // the runtime's meter too
        }
    }

    [Fact]
    public async Task On_every_interface_the_endpoint_answers_whatever_host_name_the_scraper_uses()
    {
        int metricsPort = ServeWebTests.FreePort();
        await using ParleyProcess echo = ParleyProcess.Start("echo", "--host", "0.0.0.0", "--port", "0", "--metrics-port", metricsPort.ToString(CultureInfo.InvariantCulture));
        await echo.WaitForLineAsync($@"metrics for Prometheus at http://0\.0\.0\.0:{metricsPort}/metrics");
        await echo.WaitForLineAsync("listening on");
        foreach (string host in new[] { "127.0.0.1", "localhost", "chat1.example.com" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"http://127.0.0.1:{metricsPort}/metrics"));
            request.Headers.Host = $"{host}:{metricsPort}";
            using var http = new HttpClient();
            using HttpResponseMessage response = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        echo.Terminate();
        Assert.Equal(0, await echo.WaitForExitAsync());
    }

    [Fact]
    public async Task A_metrics_port_that_is_also_the_servers_port_is_refused()
    {
        await using ParleyProcess echo = ParleyProcess.Start("echo", "--port", "18777", "--metrics-port", "18777");
        Assert.Equal(2, await echo.WaitForExitAsync());
        Assert.Equal("parley echo: --metrics-port 18777 is also --port: give metrics a port of their own.", echo.Output.Trim());
    }

    [Fact]
    public async Task A_metrics_port_in_use_is_one_clear_error_before_anything_starts()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;
        await using ParleyProcess echo = ParleyProcess.Start("echo", "--port", "0", "--metrics-port", port.ToString(CultureInfo.InvariantCulture));
        Assert.Equal(2, await echo.WaitForExitAsync());
        Assert.Contains($"cannot serve metrics on 127.0.0.1:{port} (--metrics-port)", echo.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("listening on", echo.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", echo.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Otlp_pushes_the_parley_instruments_to_a_collector()
    {
        // A stand-in collector: OTLP over HTTP is a POST of protobuf to /v1/metrics, where names are plain UTF-8.
        using var collector = new HttpListener();
        int port = ServeWebTests.FreePort();
        collector.Prefixes.Add($"http://127.0.0.1:{port}/");
        collector.Start();

        await using ParleyProcess echo = ParleyProcess.Start(
            new Dictionary<string, string?> { ["OTEL_METRIC_EXPORT_INTERVAL"] = "200" },
            "echo", "--port", "0", "--otlp-endpoint", $"http://127.0.0.1:{port}", "--otlp-protocol", "http/protobuf");
        Match listening = await echo.WaitForLineAsync(@"parley echo listening on (\S+):(\d+)");
        await using (var client = new ParleyClient(new ParleyClientOptions
        {
            RemoteEndPoint = new IPEndPoint(IPAddress.Parse(listening.Groups[1].Value), int.Parse(listening.Groups[2].Value, CultureInfo.InvariantCulture)),
        }))
        {
            await client.ConnectAsync().WaitAsync(ParleyProcess.Timeout);
        }

        using var deadline = new CancellationTokenSource(ParleyProcess.Timeout);
        while (true)
        {
            HttpListenerContext request = await collector.GetContextAsync().WaitAsync(deadline.Token);
            using var body = new MemoryStream();
            await request.Request.InputStream.CopyToAsync(body, deadline.Token);
            string path = request.Request.Url!.AbsolutePath;
            string contentType = request.Request.ContentType ?? "";
            request.Response.StatusCode = 200;
            request.Response.Close();

            Assert.Equal("/v1/metrics", path);
            Assert.Equal("application/x-protobuf", contentType);
            string payload = Encoding.UTF8.GetString(body.ToArray());
            if (payload.Contains("parley.connections.opened", StringComparison.Ordinal))
            {
                Assert.Contains("parley-echo", payload, StringComparison.Ordinal); // the service name
                break;
            }
        }
    }

    /// <summary>Each instrument docs/operations.md lists, with the name Prometheus gets for it
    /// (the rule the document states: dots to underscores, the unit appended, <c>_total</c> on counters).</summary>
    private static Dictionary<string, string> DocumentedPrometheusNames()
    {
        string root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Parley.slnx")))
        {
            root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("the repository root is not above the tests");
        }

        var names = new Dictionary<string, string>();
        foreach (Match row in InstrumentRow().Matches(File.ReadAllText(Path.Combine(root, "docs", "operations.md"))))
        {
            string instrument = row.Groups[1].Value;
            string kind = row.Groups[2].Value;
            string unit = row.Groups[3].Value;
            string name = instrument.Replace('.', '_');
            string suffix = unit switch { "By" => "_bytes", "s" => "_seconds", _ => "" };
            if (suffix.Length > 0 && !name.EndsWith(suffix, StringComparison.Ordinal))
            {
                name += suffix;
            }

            names[instrument] = kind.StartsWith("counter", StringComparison.Ordinal) ? name + "_total" : name;
        }

        Assert.True(names.Count > 30, "docs/operations.md's instrument tables were not found");
        return names;
    }

    [GeneratedRegex(@"(?m)^# TYPE (\S+) \S+$")]
    private static partial Regex TypeLine();

    [GeneratedRegex(@"(?m)^\| `(parley\.[a-z0-9_.]+)` \| ([a-z -]+)[^|]*\| `?([^`|]*)`? *\|")]
    private static partial Regex InstrumentRow();
}
