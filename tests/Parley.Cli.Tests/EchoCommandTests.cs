using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Parley.Cli.Tests;

public class EchoCommandTests
{
    private static async Task<Socket> ConnectAsync(IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(endPoint).WaitAsync(ParleyProcess.Timeout);
        return socket;
    }

    private static async Task ReadExactlyAsync(Socket socket, Memory<byte> buffer)
    {
        int filled = 0;
        while (filled < buffer.Length)
        {
            int read = await socket.ReceiveAsync(buffer[filled..]).AsTask().WaitAsync(ParleyProcess.Timeout);
            if (read == 0)
            {
                throw new EndOfStreamException($"connection closed after {filled} of {buffer.Length} bytes");
            }

            filled += read;
        }
    }

    /// <summary>Reads the next non-keep-alive frame's payload.</summary>
    private static async Task<byte[]> ReadFrameAsync(Socket socket)
    {
        var header = new byte[4];
        while (true)
        {
            await ReadExactlyAsync(socket, header);
            int length = BinaryPrimitives.ReadInt32LittleEndian(header);
            if (length == 0)
            {
                continue;
            }

            var payload = new byte[length];
            await ReadExactlyAsync(socket, payload);
            return payload;
        }
    }

    private static byte[] Frame(byte[] payload)
    {
        var frame = new byte[4 + payload.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)payload.Length);
        payload.CopyTo(frame, 4);
        return frame;
    }

    [Fact]
    public async Task Echo_returns_frames_from_0_bytes_to_1_MiB_written_at_odd_boundaries()
    {
        (ParleyProcess process, IPEndPoint endPoint) = await ParleyProcess.StartEchoAsync();
        await using (process)
        {
            using Socket socket = await ConnectAsync(endPoint);
            int[] sizes = [0, 1, 2, 3, 4, 5, 7, 100, 1000, 4095, 4096, 4097, 8192, 65535, 65536, 65537, 300_001, 1024 * 1024];
            var random = new Random(42);
            byte[][] payloads = sizes.Select(size =>
            {
                var bytes = new byte[size];
                random.NextBytes(bytes);
                return bytes;
            }).ToArray();
            byte[] stream = payloads.SelectMany(Frame).ToArray();

            // Write in odd-sized pieces while reading: large echoes must not deadlock the two directions.
            Task writer = Task.Run(async () =>
            {
                int[] pieces = [1, 3, 7, 13, 4097, 65_537, 2];
                int offset = 0;
                for (int i = 0; offset < stream.Length; i++)
                {
                    int length = Math.Min(pieces[i % pieces.Length], stream.Length - offset);
                    await socket.SendAsync(stream.AsMemory(offset, length));
                    offset += length;
                }
            });

            foreach (byte[] expected in payloads.Where(p => p.Length > 0))
            {
                Assert.Equal(expected, await ReadFrameAsync(socket));
            }

            await writer.WaitAsync(ParleyProcess.Timeout);
        }
    }

    [Fact]
    public async Task A_length_prefix_of_0xFFFFFFFF_closes_that_connection_while_another_client_keeps_working()
    {
        (ParleyProcess process, IPEndPoint endPoint) = await ParleyProcess.StartEchoAsync();
        await using (process)
        {
            using Socket good = await ConnectAsync(endPoint);
            using Socket bad = await ConnectAsync(endPoint);
            await bad.SendAsync(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF });

            int read;
            try
            {
                read = await bad.ReceiveAsync(new byte[16].AsMemory()).AsTask().WaitAsync(ParleyProcess.Timeout);
            }
            catch (SocketException)
            {
                read = 0; // reset: closed just the same
            }

            Assert.Equal(0, read);
            await process.WaitForLineAsync("reason=FrameTooLarge");

            await good.SendAsync(Frame("still served"u8.ToArray()));
            Assert.Equal("still served"u8.ToArray(), await ReadFrameAsync(good));
        }
    }

    [Fact]
    public async Task Line_framing_echoes_lines_ending_in_lf_or_crlf()
    {
        (ParleyProcess process, IPEndPoint endPoint) = await ParleyProcess.StartEchoAsync("--framing", "line");
        await using (process)
        {
            using Socket socket = await ConnectAsync(endPoint);
            await socket.SendAsync("hello\r\nwor"u8.ToArray());
            await socket.SendAsync("ld\n"u8.ToArray());
            var reply = new byte["hello\nworld\n".Length];
            await ReadExactlyAsync(socket, reply);
            Assert.Equal("hello\nworld\n"u8.ToArray(), reply);
        }
    }

    [Fact]
    public async Task Line_framing_closes_a_connection_whose_line_passes_the_64_KiB_default_without_a_newline()
    {
        (ParleyProcess process, IPEndPoint endPoint) = await ParleyProcess.StartEchoAsync("--framing", "line");
        await using (process)
        {
            using Socket socket = await ConnectAsync(endPoint);
            await socket.SendAsync(Enumerable.Repeat((byte)'x', 70_000).ToArray());
            int read;
            try
            {
                read = await socket.ReceiveAsync(new byte[16].AsMemory()).AsTask().WaitAsync(ParleyProcess.Timeout);
            }
            catch (SocketException)
            {
                read = 0;
            }

            Assert.Equal(0, read);
            await process.WaitForLineAsync("reason=FrameTooLarge");
        }
    }

    [Fact]
    public async Task Sigterm_flushes_closes_connections_and_exits_with_code_zero()
    {
        (ParleyProcess process, IPEndPoint endPoint) = await ParleyProcess.StartEchoAsync();
        await using (process)
        {
            using Socket socket = await ConnectAsync(endPoint);
            await socket.SendAsync(Frame("bye"u8.ToArray()));
            Assert.Equal("bye"u8.ToArray(), await ReadFrameAsync(socket));

            process.Terminate();
            Assert.Equal(0, await process.WaitForExitAsync());
            Assert.Contains("reason=ServerShutdown", process.Output, StringComparison.Ordinal);
            Assert.Contains("stopped", process.Output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Help_lists_the_echo_options_a_newcomer_needs()
    {
        await using ParleyProcess process = ParleyProcess.Start("echo", "--help");
        Assert.Equal(0, await process.WaitForExitAsync());
        foreach (string option in new[] { "--port", "--host", "--framing", "--max-message-size", "--idle-timeout" })
        {
            Assert.Contains(option, process.Output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_port_already_in_use_is_reported_clearly_with_a_nonzero_exit_code()
    {
        using var occupied = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        occupied.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        occupied.Listen();
        int port = ((IPEndPoint)occupied.LocalEndPoint!).Port;

        await using ParleyProcess process = ParleyProcess.Start("echo", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.NotEqual(0, await process.WaitForExitAsync());
        Assert.Contains("cannot listen on", process.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Broadcast_mode_sends_every_message_to_every_client_sender_included()
    {
        (ParleyProcess process, IPEndPoint endPoint) = await ParleyProcess.StartEchoAsync("--mode", "broadcast");
        await using (process)
        {
            using Socket first = await ConnectAsync(endPoint);
            using Socket second = await ConnectAsync(endPoint);

            // The server registers connections asynchronously: ping until the second client hears the first.
            byte[] payload;
            int attempt = 0;
            while (true)
            {
                payload = System.Text.Encoding.ASCII.GetBytes($"hello {attempt++}");
                await first.SendAsync(Frame(payload));
                Assert.Equal(payload, await ReadFrameAsync(first));
                using var wait = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
                try
                {
                    var header = new byte[4];
                    int read = await second.ReceiveAsync(header.AsMemory(), SocketFlags.Peek, wait.Token);
                    if (read > 0)
                    {
                        break;
                    }
                }
                catch (OperationCanceledException)
                {
                    Assert.True(attempt < 100, "the second client never received a broadcast");
                }
            }

            Assert.Equal(payload, await ReadFrameAsync(second));
        }
    }

    [Fact]
    public async Task Bench_broadcast_against_a_child_server_reports_every_message_delivered_as_json()
    {
        await using ParleyProcess bench = ParleyProcess.Start("bench", "broadcast", "--clients", "20", "--duration", "2", "--interval-ms", "100", "--json");
        Assert.Equal(0, await bench.WaitForExitAsync());
        string output = bench.Output;
        int start = output.IndexOf('{', StringComparison.Ordinal);
        Assert.True(start >= 0, output);
        using var json = System.Text.Json.JsonDocument.Parse(output[start..output.LastIndexOf('}')].Trim() + "}");
        System.Text.Json.JsonElement root = json.RootElement;
        Assert.Equal("broadcast", root.GetProperty("workload").GetString());
        Assert.Equal(20, root.GetProperty("clients").GetInt32());
        long expected = root.GetProperty("expected").GetInt64();
        Assert.True(expected > 0);
        Assert.Equal(expected, root.GetProperty("delivered").GetInt64());
        Assert.Equal(0, root.GetProperty("lost").GetInt64());
        Assert.Equal(0, root.GetProperty("duplicated").GetInt64());
        Assert.True(root.GetProperty("server").GetProperty("peak_rss_mb").GetDouble() > 0);
        Assert.True(root.GetProperty("latency_ms").GetProperty("p99").GetDouble() >= 0);
    }

    [Theory]
    [InlineData("echo", "--clients", "2", "--inflight", "10", "--duration", "1")]
    [InlineData("broadcast", "--clients", "10", "--duration", "1", "--interval-ms", "100")]
    [InlineData("connections", "--clients", "10", "--duration", "1")]
    [InlineData("echo", "--clients", "2", "--inflight", "10", "--size", "2000", "--duration", "1", "--compress", "brotli", "--no-tls")]
    [InlineData("broadcast", "--clients", "10", "--duration", "1", "--interval-ms", "100", "--size", "1000", "--compress", "zlib")]
    public async Task Bench_with_tls_or_compression_runs_server_and_clients_with_it_and_loses_nothing(params string[] workloadAndOptions)
    {
        string[] arguments = workloadAndOptions.Contains("--no-tls") ? [.. workloadAndOptions.Where(a => a != "--no-tls")] : [.. workloadAndOptions, "--tls"];
        await using ParleyProcess bench = ParleyProcess.Start(["bench", .. arguments, "--json"]);
        Assert.Equal(0, await bench.WaitForExitAsync());
        string output = bench.Output;
        using System.Text.Json.JsonDocument json = bench.JsonOutput();
        System.Text.Json.JsonElement root = json.RootElement;
        Assert.True(root.GetProperty("delivered").GetInt64() > 0, output);
        Assert.Equal(root.GetProperty("expected").GetInt64(), root.GetProperty("delivered").GetInt64());
        Assert.Equal(0, root.GetProperty("lost").GetInt64());
    }

    [Theory]
    [InlineData("echo", "--host", "nonsense", "--host: 'nonsense' is not an IP address")]
    [InlineData("echo", "--port", "70000", "--port: 70000 is out of range: must be 0 to 65535.")]
    [InlineData("bench", "broadcast", "--target", "nothost", "--target: 'nothost' is not host:port")]
    public async Task Bad_option_values_are_refused_with_a_clear_message_not_a_stack_trace(params string[] argumentsThenMessage)
    {
        string[] arguments = argumentsThenMessage[..^1];
        await using ParleyProcess process = ParleyProcess.Start(arguments);
        Assert.NotEqual(0, await process.WaitForExitAsync());
        Assert.Contains(argumentsThenMessage[^1], process.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", process.Output, StringComparison.Ordinal);
    }
}
