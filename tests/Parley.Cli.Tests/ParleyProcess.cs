using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace Parley.Cli.Tests;

/// <summary>The real <c>parley</c> executable run as a child process, its output captured line by line.</summary>
internal sealed partial class ParleyProcess : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly SemaphoreSlim _lineArrived = new(0);

    private ParleyProcess(Process process) => _process = process;

    public int Id => _process.Id;

    public string Output => string.Join('\n', _lines);

    private bool _drained;

    /// <summary>Runs parley with <paramref name="arguments"/> and asserts it exits non-zero saying <paramref name="message"/>, with no stack trace.</summary>
    public static async Task AssertRefusesAsync(string message, params string[] arguments)
    {
        await using ParleyProcess parley = Start(arguments);
        Assert.NotEqual(0, await parley.WaitForExitAsync());
        Assert.Contains(message, parley.Output);
        Assert.DoesNotContain("Unhandled exception", parley.Output);
    }

    public static ParleyProcess Start(params string[] arguments) => Start(new Dictionary<string, string?>(), arguments);

    /// <summary>Runs parley with <paramref name="environment"/> changed (a null value removes the variable).</summary>
    public static ParleyProcess Start(IReadOnlyDictionary<string, string?> environment, params string[] arguments) =>
        StartUnder([], environment, arguments);

    /// <summary>Runs parley through <paramref name="launcher"/> (a command that execs the rest, such as
    /// <c>prlimit --fsize=… --</c>), with <paramref name="environment"/> changed.</summary>
    public static ParleyProcess StartUnder(IReadOnlyList<string> launcher, IReadOnlyDictionary<string, string?> environment, params string[] arguments)
    {
        // Tests run servers side by side: the browser front door's fixed default port (8081) is
        // left off unless a test asks for it.
        if (arguments is ["serve", ..] && !arguments.Contains("--web-port"))
        {
            arguments = [.. arguments, "--web-port", "0"];
        }

        var info = new ProcessStartInfo(launcher.Count > 0 ? launcher[0] : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (launcher.Count > 0)
        {
            foreach (string part in launcher.Skip(1))
            {
                info.ArgumentList.Add(part);
            }

            info.ArgumentList.Add("dotnet");
        }

        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "parley.dll"));
        foreach (string argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach ((string name, string? value) in environment)
        {
            if (value is null)
            {
                info.Environment.Remove(name);
            }
            else
            {
                info.Environment[name] = value;
            }
        }

        var process = new Process { StartInfo = info };
        var wrapper = new ParleyProcess(process);
        process.OutputDataReceived += (_, e) => wrapper.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => wrapper.OnLine(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return wrapper;
    }

    private void OnLine(string? line)
    {
        if (line is not null)
        {
            _lines.Enqueue(line);
            _lineArrived.Release();
        }
    }

    /// <summary>Waits for an output line matching <paramref name="pattern"/> and returns the match.</summary>
    public async Task<Match> WaitForLineAsync(string pattern)
    {
        var regex = new Regex(pattern);
        using var deadline = new CancellationTokenSource(Timeout);
        while (true)
        {
            foreach (string line in _lines)
            {
                Match match = regex.Match(line);
                if (match.Success)
                {
                    return match;
                }
            }

            if (_process.HasExited && !_drained)
            {
                // The exit can be seen before the last lines are read: wait for the end of the
                // redirected output (WaitForExit with no timeout does), then look once more.
                await _process.WaitForExitAsync(deadline.Token);
                _drained = true;
                continue;
            }

            if (_process.HasExited && _lineArrived.CurrentCount == 0)
            {
                throw new InvalidOperationException($"parley exited ({_process.ExitCode}) before printing /{pattern}/:\n{Output}");
            }

            try
            {
                await _lineArrived.WaitAsync(TimeSpan.FromMilliseconds(200), deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"parley did not print /{pattern}/ within {Timeout}:\n{Output}");
            }
        }
    }

    /// <summary>Starts <c>parley echo</c> on a free port and returns its endpoint once it listens.</summary>
    public static async Task<(ParleyProcess Process, IPEndPoint EndPoint)> StartEchoAsync(params string[] extra)
    {
        ParleyProcess process = Start(["echo", "--port", "0", .. extra]);
        Match match = await process.WaitForLineAsync(@"listening on (\S+):(\d+)");
        return (process, new IPEndPoint(IPAddress.Parse(match.Groups[1].Value), int.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture)));
    }

    /// <summary>Starts <c>parley serve</c> on a free port and returns its endpoint once it listens.</summary>
    public static async Task<(ParleyProcess Process, IPEndPoint EndPoint)> StartServeAsync(params string[] extra)
    {
        ParleyProcess process = Start(["serve", "--port", "0", .. extra]);
        Match match = await process.WaitForLineAsync(@"serve listening on (\S+):(\d+)"); // not the web port's "HTTP server listening on"
        return (process, new IPEndPoint(IPAddress.Parse(match.Groups[1].Value), int.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture)));
    }

    /// <summary>The JSON object a <c>--json</c> run printed (progress lines around it are skipped).</summary>
    public System.Text.Json.JsonDocument JsonOutput()
    {
        string output = Output;
        int start = output.IndexOf("{\n", StringComparison.Ordinal);
        Assert.True(start >= 0, output);
        return System.Text.Json.JsonDocument.Parse(output[start..(output.LastIndexOf('}') + 1)]);
    }

    /// <summary>Writes <paramref name="text"/> to the process's standard input and closes it.</summary>
    public async Task WriteInputAndCloseAsync(string text)
    {
        await _process.StandardInput.WriteAsync(text);
        _process.StandardInput.Close();
    }

    /// <summary>Writes <paramref name="text"/> to the process's standard input and leaves it open, as a person typing would.</summary>
    public async Task WriteInputAsync(string text)
    {
        await _process.StandardInput.WriteAsync(text);
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>Closes the process's standard input (end of file).</summary>
    public void CloseInput() => _process.StandardInput.Close();

    /// <summary>Sends SIGKILL: the process dies at once, as in a crash or power cut of the process.</summary>
    public void KillHard() => Assert.Equal(0, Kill(_process.Id, 9));

    /// <summary>Sends SIGTERM, as a service manager or <c>kill</c> would.</summary>
    public void Terminate() => Assert.Equal(0, Kill(_process.Id, 15));

    public async Task<int> WaitForExitAsync(TimeSpan? limit = null)
    {
        await _process.WaitForExitAsync().WaitAsync(limit ?? Timeout);
        _process.WaitForExit(); // flushes the redirected output
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(Timeout);
        }

        _process.Dispose();
        _lineArrived.Dispose();
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
