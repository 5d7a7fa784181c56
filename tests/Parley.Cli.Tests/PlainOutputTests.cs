using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Parley.Cli.Tests;

/// <summary>
/// Output that is not a terminal carries no escape codes, and NO_COLOR turns colour off on a
/// terminal too (issue 15, item 9). The environment claims a colour terminal (TERM, COLORTERM),
/// as a CI runner or a shell piping into a file does, so detection by environment alone would
/// colour the output.
/// </summary>
public partial class PlainOutputTests
{
    private static readonly Dictionary<string, string?> ColourTerminal = new()
    {
        ["TERM"] = "xterm-256color",
        ["COLORTERM"] = "truecolor",
        ["NO_COLOR"] = null,
    };

    [Fact]
    public async Task A_failed_bench_writes_its_error_without_escape_codes_and_on_one_line()
    {
        using Socket silent = SilentListener();
        await using ParleyProcess bench = ParleyProcess.Start(
            ColourTerminal, "bench", "echo", "--target", silent.LocalEndPoint!.ToString()!, "--clients", "1", "--duration", "1", "--inflight", "1");
        Assert.Equal(1, await bench.WaitForExitAsync());
        Assert.DoesNotContain('\u001b', bench.Output);
        Assert.Contains($"no message came back from {silent.LocalEndPoint}: does the server use --tls-cert or --compress? The bench must match it:", bench.Output);
    }

    [Fact]
    public async Task A_bench_result_table_and_the_child_servers_lines_have_no_escape_codes()
    {
        await using ParleyProcess bench = ParleyProcess.Start(ColourTerminal, "bench", "echo", "--clients", "1", "--duration", "1", "--inflight", "10");
        Assert.Equal(0, await bench.WaitForExitAsync());
        Assert.Contains("throughput", bench.Output);
        Assert.DoesNotContain('\u001b', bench.Output);
    }

    [Fact]
    public async Task Server_logs_have_no_escape_codes()
    {
        ParleyProcess echo = ParleyProcess.Start(ColourTerminal, "echo", "--port", "0", "--log-level", "Debug");
        await using (echo)
        {
            Match listening = await echo.WaitForLineAsync(@"listening on (\S+):(\d+)");
            using (var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
            {
                await client.ConnectAsync(new IPEndPoint(IPAddress.Parse(listening.Groups[1].Value), int.Parse(listening.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture)))
                    .WaitAsync(ParleyProcess.Timeout);
                await echo.WaitForLineAsync("open #");
            }

            await echo.WaitForLineAsync("close #");
            echo.Terminate();
            Assert.Equal(0, await echo.WaitForExitAsync());
            Assert.Contains("info", echo.Output);
            Assert.DoesNotContain('\u001b', echo.Output);
        }
    }

    [Fact]
    public async Task On_a_terminal_errors_are_red_unless_NO_COLOR_is_set()
    {
        using Socket silent = SilentListener();
        string command = $"dotnet '{Path.Combine(AppContext.BaseDirectory, "parley.dll")}' bench echo --target {silent.LocalEndPoint} --clients 1 --duration 1 --inflight 1";

        string coloured = await RunOnTerminalAsync(command, noColor: false);
        Assert.Matches(ColourCode(), coloured); // the terminal is real: without NO_COLOR the error is red

        string plain = await RunOnTerminalAsync(command, noColor: true);
        Assert.Contains("no message came back", plain);
        Assert.DoesNotMatch(ColourCode(), plain);
    }

    [Fact]
    public async Task On_a_terminal_log_levels_are_coloured_unless_NO_COLOR_is_set()
    {
        string notAFolder = Path.GetTempFileName();
        try
        {
            // The data folder cannot be opened: one 'fail' line, then exit 2.
            string command = $"dotnet '{Path.Combine(AppContext.BaseDirectory, "parley.dll")}' serve --port 0 --data '{notAFolder}'";
            Assert.Matches(ColourCode(), await RunOnTerminalAsync(command, noColor: false, exitCode: 2));

            string plain = await RunOnTerminalAsync(command, noColor: true, exitCode: 2);
            Assert.Contains("fail: parley.serve", plain);
            Assert.DoesNotMatch(ColourCode(), plain);
        }
        finally
        {
            File.Delete(notAFolder);
        }
    }

    /// <summary>Runs <paramref name="command"/> on a pseudo-terminal (util-linux <c>script</c>) and returns what it wrote there.</summary>
    private static async Task<string> RunOnTerminalAsync(string command, bool noColor, int exitCode = 1)
    {
        var info = new ProcessStartInfo("script") { RedirectStandardOutput = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (string argument in new[] { "-q", "-e", "-c", command, "/dev/null" })
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["TERM"] = "xterm-256color";
        info.Environment.Remove("NO_COLOR");
        if (noColor)
        {
            info.Environment["NO_COLOR"] = "1";
        }

        using Process script = Process.Start(info)!;
        script.StandardInput.Close();
        Task<string> output = script.StandardOutput.ReadToEndAsync();
        await script.WaitForExitAsync().WaitAsync(ParleyProcess.Timeout);
        string text = await output.WaitAsync(ParleyProcess.Timeout);
        Assert.True(exitCode == script.ExitCode, $"exit code {script.ExitCode} (-e: the command's own):\n{text}");
        return text;
    }

    /// <summary>Accepts connections (the backlog does) and never answers.</summary>
    private static Socket SilentListener()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        socket.Listen();
        return socket;
    }

    /// <summary>An SGR sequence: colour or style.</summary>
    [GeneratedRegex(@"\u001b\[[0-9;]*m")]
    private static partial Regex ColourCode();
}
