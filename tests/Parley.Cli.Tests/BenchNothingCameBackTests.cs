using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace Parley.Cli.Tests;

/// <summary>
/// A bench run in which nothing comes back is an error with a hint, not "0 msg/s" and exit 0
/// (issue 15, item 9): against a real TLS or compressing server started without the bench's
/// matching flag, every workload that can deliver nothing says so and exits non-zero.
/// </summary>
public sealed class BenchNothingCameBackTests : IDisposable
{
    private readonly string _certificate = Path.Combine(Path.GetTempPath(), $"parley-test-{Guid.NewGuid():N}.pfx");

    public BenchNothingCameBackTests()
    {
        using X509Certificate2 certificate = CertCommand.SelfSigned(["localhost", "127.0.0.1"], days: 1);
        File.WriteAllBytes(_certificate, certificate.Export(X509ContentType.Pkcs12));
    }

    public void Dispose() => File.Delete(_certificate);

    [Theory]
    [InlineData("echo", "tls")]
    [InlineData("broadcast", "tls")]
    [InlineData("connections", "tls")]
    [InlineData("echo", "compress")]
    [InlineData("broadcast", "compress")]
    [InlineData("connections", "compress")]
    public async Task A_bench_without_the_servers_tls_or_compression_fails_with_a_hint(string workload, string feature)
    {
        string[] server = feature == "tls" ? ["--tls-cert", _certificate] : ["--compress", "zlib"];
        (ParleyProcess echo, IPEndPoint endPoint) = await ParleyProcess.StartEchoAsync([.. server, "--mode", workload == "broadcast" ? "broadcast" : "echo"]);
        await using (echo)
        {
            await using ParleyProcess bench = ParleyProcess.Start(
                "bench", workload, "--target", endPoint.ToString(), "--clients", "2", "--duration", "1", "--inflight", "10", "--interval-ms", "100");
            Assert.NotEqual(0, await bench.WaitForExitAsync());
            string output = bench.Output;
            Assert.Contains($"no message came back from {endPoint}: does the server use --tls-cert or --compress?", output);
            Assert.Contains(feature == "tls" ? "--tls (with --insecure" : "--compress zlib|brotli", output);
            Assert.DoesNotContain("Unhandled exception", output);
            Assert.DoesNotContain("msg/s, ", output); // no result table
        }
    }

    [Theory]
    [InlineData("echo")]
    [InlineData("connections")]
    public async Task The_same_bench_with_the_matching_flags_succeeds(string workload)
    {
        (ParleyProcess echo, IPEndPoint endPoint) = await ParleyProcess.StartEchoAsync("--tls-cert", _certificate, "--compress", "zlib");
        await using (echo)
        {
            await using ParleyProcess bench = ParleyProcess.Start(
                "bench", workload, "--target", endPoint.ToString(), "--tls", "--insecure", "--compress", "zlib", "--clients", "2", "--duration", "1", "--inflight", "10", "--json");
            Assert.Equal(0, await bench.WaitForExitAsync());
            using System.Text.Json.JsonDocument json = bench.JsonOutput();
            Assert.True(json.RootElement.GetProperty("delivered").GetInt64() > 0, bench.Output);
        }
    }

    [Theory]
    [InlineData("burst")]
    [InlineData("rust-readme")]
    public async Task A_chat_bench_without_tls_against_a_tls_chat_server_fails_with_a_hint(string profile)
    {
        string data = Path.Combine(Path.GetTempPath(), $"parley-test-{Guid.NewGuid():N}");
        try
        {
            (ParleyProcess serve, IPEndPoint endPoint) = await ParleyProcess.StartServeAsync("--data", data, "--tls-cert", _certificate);
            await using (serve)
            {
                await using ParleyProcess bench = ParleyProcess.Start(
                    "bench", "chat", "--profile", profile, "--target", endPoint.ToString(), "--clients", "2", "--duration", "1");
                Assert.NotEqual(0, await bench.WaitForExitAsync());
                Assert.Contains("does the server use --tls-cert? The bench must match it: --tls", bench.Output);
                Assert.DoesNotContain("Unhandled exception", bench.Output);
            }
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task A_server_that_never_answers_is_an_error_not_zero_messages_a_second()
    {
        // Accepts (the backlog does) and never reads or answers.
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        silent.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        silent.Listen();
        await using ParleyProcess bench = ParleyProcess.Start(
            "bench", "echo", "--target", silent.LocalEndPoint!.ToString()!, "--clients", "1", "--duration", "1", "--inflight", "1");
        Assert.Equal(1, await bench.WaitForExitAsync());
        Assert.Contains($"no message came back from {silent.LocalEndPoint}", bench.Output);
    }
}
