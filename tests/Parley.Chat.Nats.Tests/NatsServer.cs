using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Parley.Chat.Nats.Tests;

/// <summary>
/// A <c>nats-server -js</c> of the test's own: a free port on 127.0.0.1 and a temporary store
/// (Debian's package; <c>.ci/run</c> installs it). It can be killed and started again on the
/// same port and store, as a broker restart.
/// </summary>
internal sealed class NatsServer : IAsyncDisposable
{
    private Process? _process;

    private NatsServer(string executable, int port, string store)
    {
        Executable = executable;
        Port = port;
        Store = store;

        // A test host that ends without disposing (a crash, an abort) must not leave the server behind.
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillNow();
    }

    private void KillNow()
    {
        try
        {
            if (_process is { HasExited: false } process)
            {
                Signal("CONT");
                process.Kill();
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
        }
    }

    public string Executable { get; }

    public int Port { get; }

    public string Store { get; }

    public string Url => $"nats://127.0.0.1:{Port}";

    /// <summary>nats-server on PATH or in /usr/sbin; null when not installed (only outside CI: on CI its absence fails).</summary>
    public static string? Find()
    {
        foreach (string candidate in new[] { "/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server" })
        {
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        Assert.True(Environment.GetEnvironmentVariable("CI") != "true", "CI must have nats-server (.ci/run installs Debian's nats-server)");
        return null;
    }

    public static async Task<NatsServer?> StartAsync()
    {
        string? executable = Find();
        if (executable is null)
        {
            return null;
        }

        string store = Path.Combine(Path.GetTempPath(), "parley-nats-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(store);
        var server = new NatsServer(executable, FreePort(), store);
        await server.RestartAsync();
        return server;
    }

    /// <summary>Starts the server (again) and waits until it accepts connections.</summary>
    public async Task RestartAsync()
    {
        _process = Process.Start(new ProcessStartInfo(Executable, ["-js", "-a", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-sd", Store])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        })!;
        _process.ErrorDataReceived += (_, _) => { };
        _process.OutputDataReceived += (_, _) => { };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException) when (deadline.Elapsed < TimeSpan.FromSeconds(20) && !_process.HasExited)
            {
                await Task.Delay(50);
            }
        }
    }

    /// <summary>SIGSTOPs the server: connections stay open, nothing is answered (<see cref="Resume"/> goes on).</summary>
    public void Pause() => Assert.True(Signal("STOP"), "nats-server could not be paused");

    /// <summary>SIGCONTs a paused server.</summary>
    public void Resume() => Assert.True(Signal("CONT"), "nats-server could not be resumed");

    private bool Signal(string signal)
    {
        using Process kill = Process.Start("kill", [$"-{signal}", _process!.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        kill.WaitForExit();
        return kill.ExitCode == 0;
    }

    /// <summary>SIGKILLs the server (its store stays).</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill();
            await process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            Signal("CONT"); // a paused process dies of SIGKILL too, but not before it is scheduled
        }

        await KillAsync();
        _process?.Dispose();
        try
        {
            Directory.Delete(Store, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
