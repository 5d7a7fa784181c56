using System.Collections.Concurrent;
using System.Net;
using System.Text.RegularExpressions;
using Parley.Udp;

namespace Parley.Cli.Tests;

/// <summary>The real <c>parley</c> process speaking reliable UDP.</summary>
public class UdpCommandTests
{
    [Fact]
    public async Task Echo_over_udp_returns_every_message_on_its_channel_and_mode()
    {
        await using ParleyProcess echo = ParleyProcess.Start("echo", "--transport", "udp", "--port", "0");
        Match match = await echo.WaitForLineAsync(@"listening on udp (\S+):(\d+)");
        var endPoint = new IPEndPoint(IPAddress.Parse(match.Groups[1].Value), int.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));

        await using UdpHost client = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0));
        var echoes = new ConcurrentQueue<(byte Channel, DeliveryMode Mode, byte[] Data)>();
        client.MessageReceived += (UdpPeer p, in UdpMessage m) => echoes.Enqueue((m.Channel, m.Mode, m.Data.ToArray()));
        UdpPeer peer = await client.ConnectAsync(endPoint).WaitAsync(ParleyProcess.Timeout);
        for (int i = 0; i < 300; i++)
        {
            byte[] data = new byte[i == 150 ? 100_000 : 1 + i];
            data[0] = (byte)i;
            Assert.True(peer.Send(data, DeliveryMode.ReliableOrdered, (byte)(i % 3)).IsQueued);
        }

        await TestWait.UntilAsync(() => echoes.Count == 300);
        for (byte channel = 0; channel < 3; channel++)
        {
            Assert.Equal(
                Enumerable.Range(0, 300).Where(i => i % 3 == channel).Select(i => (byte)i),
                echoes.Where(e => e.Channel == channel).Select(e => e.Data[0]));
        }

        Assert.Equal(100_000, echoes.Single(e => e.Data.Length > 1000).Data.Length);
        echo.Terminate();
        Assert.Equal(0, await echo.WaitForExitAsync());
        await TestWait.UntilAsync(() => peer.State == PeerState.Disconnected);
        Assert.Equal(CloseReason.RemoteClose, peer.CloseReason);
    }

    // Issue 16: with --max-connections 50, sessions opened from one socket took all 50 slots and
    // a real client got ServerFull. Every attempt here comes from one socket on 127.0.0.1; the real
    // client comes from 127.0.0.2 (another source address on loopback).
    [Theory]
    [InlineData(null, 32)]
    [InlineData("5", 5)]
    public async Task Echo_over_udp_limits_the_sessions_of_one_source_address(string? perAddress, int expected)
    {
        string[] limit = perAddress is null ? [] : ["--max-connections-per-address", perAddress];
        await using ParleyProcess echo = ParleyProcess.Start(["echo", "--transport", "udp", "--port", "0", "--max-connections", "50", .. limit]);
        Match match = await echo.WaitForLineAsync(@"listening on udp (\S+):(\d+)");
        var endPoint = new IPEndPoint(IPAddress.Parse(match.Groups[1].Value), int.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));

        await using UdpHost source = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0));
        var attempts = Enumerable.Range(0, 60).Select(_ => source.Connect(endPoint)).ToList();
        await TestWait.UntilAsync(() => attempts.All(p => p.State != PeerState.Connecting));
        Assert.Equal(expected, attempts.Count(p => p.State == PeerState.Connected));
        Assert.All(attempts.Where(p => p.State != PeerState.Connected), p => Assert.Equal(CloseReason.AddressLimit, p.CloseReason));

        await using UdpHost real = UdpHost.Start(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
        UdpPeer peer = await real.ConnectAsync(endPoint).WaitAsync(ParleyProcess.Timeout);
        Assert.Equal(PeerState.Connected, peer.State);
    }

    [Fact]
    public async Task Echo_refuses_tcp_only_options_with_udp()
    {
        await using ParleyProcess echo = ParleyProcess.Start("echo", "--transport", "udp", "--port", "0", "--framing", "line");
        Assert.Equal(2, await echo.WaitForExitAsync());
        Assert.Contains("--transport udp takes no", echo.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("req-resp", "--inflight", "4")]
    [InlineData("stream", "--size", "100")]
    [InlineData("stream", "--size", "300000", "--mode", "unordered")]
    [InlineData("bidi")]
    [InlineData("n-to-1", "--peers", "50", "--rate", "20")]
    [InlineData("n-to-n", "--peers", "5", "--rate", "20")]
    [InlineData("stream", "--loss", "5", "--delay", "10", "--jitter", "2", "--reorder", "1")]
    [InlineData("req-resp", "--inline-events")]
    [InlineData("bidi", "--inline-events", "--size", "3000")]
    public async Task Bench_udp_runs_each_pattern_and_reliable_ones_lose_nothing(string pattern, params string[] options)
    {
        await using ParleyProcess bench = ParleyProcess.Start(["bench", "udp", "--pattern", pattern, "--duration", "1", .. options, "--json"]);
        Assert.Equal(0, await bench.WaitForExitAsync());
        string output = bench.Output;
        using System.Text.Json.JsonDocument json = bench.JsonOutput();
        System.Text.Json.JsonElement root = json.RootElement;
        Assert.True(root.GetProperty("delivered").GetInt64() > 0, output);
        Assert.Equal(0, root.GetProperty("lost").GetInt64());
        Assert.Equal(0, root.GetProperty("duplicated").GetInt64());
        if (!options.Contains("unordered"))
        {
            Assert.Equal(0, root.GetProperty("reordered").GetInt64());
        }

        foreach (string field in (string[])["sent", "msgs_per_s", "mib_per_s", "retransmissions"])
        {
            Assert.True(root.TryGetProperty(field, out _), field);
        }

        Assert.Equal(options.Contains("--inline-events"), root.GetProperty("inline_events").GetBoolean());

        foreach (string percentile in (string[])["p50", "p90", "p99", "p999", "max"])
        {
            Assert.True(root.GetProperty("latency_ms").TryGetProperty(percentile, out _), percentile);
        }
    }

    [Fact]
    public async Task Bench_udp_load_curve_reports_one_point_per_rate()
    {
        await using ParleyProcess bench = ParleyProcess.Start("bench", "udp", "--pattern", "n-to-1", "--peers", "10", "--duration", "1", "--rates", "100,400", "--json");
        Assert.Equal(0, await bench.WaitForExitAsync());
        using System.Text.Json.JsonDocument json = bench.JsonOutput();
        System.Text.Json.JsonElement[] points = [.. json.RootElement.GetProperty("load_curve").EnumerateArray()];
        Assert.Equal([100.0, 400.0], points.Select(p => p.GetProperty("offered_per_s").GetDouble()));
        Assert.All(points, p => Assert.Equal(0, p.GetProperty("lost").GetInt64()));
    }

    [Fact]
    public async Task Udp_send_delivers_a_file_to_udp_receive_and_a_path_escaping_name_is_refused()
    {
        string folder = Path.Combine(Path.GetTempPath(), "parley-udp-cli-" + Guid.NewGuid().ToString("N"));
        string source = Path.Combine(Path.GetTempPath(), "parley-udp-src-" + Guid.NewGuid().ToString("N") + ".bin");
        byte[] data = new byte[1_500_000];
        new Random(7).NextBytes(data);
        await File.WriteAllBytesAsync(source, data);
        try
        {
            await using ParleyProcess receive = ParleyProcess.Start("udp", "receive", "--port", "0", "--folder", folder);
            Match match = await receive.WaitForLineAsync(@"listening on udp (\S+):(\d+)");
            string to = $"{match.Groups[1].Value}:{match.Groups[2].Value}";

            await using (ParleyProcess send = ParleyProcess.Start("udp", "send", source, "--to", to, "--name", "copy.bin"))
            {
                Assert.Equal(0, await send.WaitForExitAsync());
                Assert.Contains("sent 1,500,000 bytes of 1,500,000", send.Output, StringComparison.Ordinal);
            }

            await receive.WaitForLineAsync("received .*copy.bin");
            Assert.Equal(data, await File.ReadAllBytesAsync(Path.Combine(folder, "copy.bin")));

            await using ParleyProcess refused = ParleyProcess.Start("udp", "send", source, "--to", to, "--name", "../outside.bin");
            Assert.Equal(1, await refused.WaitForExitAsync());
            Assert.Contains("refused", refused.Output, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(source);
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    [Theory]
    [InlineData("--duration 0", "--duration: 0 is out of range: must be more than 0 and at most 86400 seconds.")]
    [InlineData("--peers 0", "--peers: 0 is out of range: must be 1 to 20000.")]
    [InlineData("--size -5", "--size: -5 is out of range: must be 1 to 67108864 bytes.")]
    [InlineData("--max-packet-size 100", "--max-packet-size: 100 is out of range: must be 1200 to 65507 bytes.")]
    [InlineData("--loss 100", "--loss: must be 0 or more and under 100 percent")]
    [InlineData("--delay -1", "--delay: -1 is out of range: must be 0 to 60000 ms.")]
    [InlineData("--queue -5", "--queue: must be 0 (the default) up to 1048576 messages")]
    [InlineData("--peers 20000 --queue 65536", "--queue × --peers is over 33554432 pending messages")]
    [InlineData("--offload maybe", "Unrecognized command or argument 'maybe'")]
    public async Task Bench_udp_refuses_bad_numbers_with_the_rule(string arguments, string message)
    {
        await ParleyProcess.AssertRefusesAsync(message, ["bench", "udp", .. arguments.Split(' ')]);
    }
}
