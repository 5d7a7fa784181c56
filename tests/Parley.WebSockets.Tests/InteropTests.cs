using System.Buffers;
using System.Diagnostics;
using System.Text;
using System.Threading.Channels;

namespace Parley.WebSockets.Tests;

/// <summary>
/// Against an independent implementation: Python's <c>websockets</c> (Debian's
/// python3-websockets, which .ci/run installs), as a client of Parley's server and as the server
/// of Parley's client.
/// </summary>
public sealed class InteropTests
{
    private const string Python = "/usr/bin/python3";

    [Fact]
    public async Task Pythons_websockets_client_talks_to_the_server()
    {
        if (!PythonWebSocketsInstalled())
        {
            return;
        }

        await using WebSocketHarness harness = await WebSocketHarness.StartAsync(options => options.MaxMessageSize = 64 * 1024);
        (int exit, string output) = await RunAsync(Path.Combine(AppContext.BaseDirectory, "Interop", "ws_client.py"), harness.Uri.ToString());

        Assert.True(exit == 0, output);
        Assert.Contains("echo ok", output, StringComparison.Ordinal);
        Assert.Contains("fragments ok", output, StringComparison.Ordinal);
        Assert.Contains("ping ok", output, StringComparison.Ordinal);
        Assert.Contains("close ok 4000", output, StringComparison.Ordinal);
        Assert.Equal(CloseReason.RemoteClose, (await harness.WaitForCloseAsync()).CloseReason);
    }

    [Fact]
    public async Task The_client_talks_to_pythons_websockets_server()
    {
        if (!PythonWebSocketsInstalled())
        {
            return;
        }

        var info = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardInput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Interop", "ws_server.py"));
        using Process server = Process.Start(info)!;
        try
        {
            string? line = await server.StandardOutput.ReadLineAsync().WaitAsync(WebSocketHarness.Patience);
            Assert.StartsWith("listening ", line, StringComparison.Ordinal);
            int port = int.Parse(line!["listening ".Length..], System.Globalization.CultureInfo.InvariantCulture);

            var options = new WebSocketOptions { MaxMessageSize = 128 * 1024 };
            var received = Channel.CreateUnbounded<string>();
            await using var client = new ParleyClient(new ParleyClientOptions
            {
                Dialer = new WebSocketDialer(new Uri($"ws://127.0.0.1:{port}/"), options),
                Framer = options.CreateFramer(isClient: true),
                KeepAliveInterval = TimeSpan.FromMilliseconds(100),
            });
            client.MessageReceived += (_, message) => received.Writer.TryWrite(Encoding.UTF8.GetString(message.ToArray()));
            await client.ConnectAsync();

            foreach (string text in new[] { "from parley", new string('p', 70_000), "ünïcödé" })
            {
                client.Send(Encoding.UTF8.GetBytes(text));
                Assert.Equal(text, await received.Reader.ReadAsync().AsTask().WaitAsync(WebSocketHarness.Patience));
            }

            // The server pings every 0.2 s and closes a client whose pong does not come within 5 s:
            // after several of its pings (6 bytes each) the client is still connected and answering.
            Connection connection = client.Connection!;
            long before = connection.BytesReceived;
            using (var deadline = new CancellationTokenSource(WebSocketHarness.Patience))
            {
                while (connection.BytesReceived < before + 18)
                {
                    await Task.Delay(20, deadline.Token);
                }
            }

            Assert.True(client.IsConnected);
            client.Send("after the pings"u8);
            Assert.Equal("after the pings", await received.Reader.ReadAsync().AsTask().WaitAsync(WebSocketHarness.Patience));
            await client.DisconnectAsync();
        }
        finally
        {
            server.StandardInput.Close();
            if (!server.WaitForExit(5000))
            {
                server.Kill();
            }
        }
    }

    /// <summary>On CI the package is installed by .ci/run, so its absence there is a failure, not a skip.</summary>
    private static bool PythonWebSocketsInstalled()
    {
        bool installed = File.Exists(Python) && Run(Python, "-c", "import websockets") == 0;
        Assert.True(installed || Environment.GetEnvironmentVariable("CI") != "true", "CI must have python3-websockets (apt-get install python3-websockets)");
        return installed;
    }

    private static int Run(string file, params string[] arguments)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(info)!;
        process.WaitForExit();
        return process.ExitCode;
    }

    private static async Task<(int Exit, string Output)> RunAsync(string script, string argument)
    {
        var info = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(script);
        info.ArgumentList.Add(argument);
        using Process process = Process.Start(info)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return (process.ExitCode, await output + await errors);
    }
}
