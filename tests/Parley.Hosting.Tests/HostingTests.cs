using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Parley.Chat;

namespace Parley.Hosting.Tests;

/// <summary>The chat server and a framed server on a Generic Host: configuration from a file and the
/// environment, validation at start, a graceful stop, health checks, and the sample application.</summary>
[SupportedOSPlatform("linux")]
public sealed partial class HostingTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly string _folder = Directory.CreateTempSubdirectory("parley-hosting-").FullName;
    private readonly string _prefix = $"PARLEYTEST{Guid.NewGuid():N}_";

    public void Dispose()
    {
        foreach (string name in Environment.GetEnvironmentVariables().Keys.Cast<string>().Where(name => name.StartsWith(_prefix, StringComparison.Ordinal)))
        {
            Environment.SetEnvironmentVariable(name, null);
        }

        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public async Task A_host_configured_by_a_file_and_the_environment_serves_chat_and_echo_and_keeps_what_it_acknowledged()
    {
        string data = Path.Combine(_folder, "data");
        string settings = Path.Combine(_folder, "appsettings.json");
        File.WriteAllText(settings, """
            { "Parley": {
                "Chat": { "Port": 0, "MaxMessageBytes": 4096, "DataDirectory": "overridden below" },
                "Echo": { "Port": 0, "Framing": "line" } } }
            """);
        Environment.SetEnvironmentVariable(_prefix + "Parley__Chat__DataDirectory", data);
        Environment.SetEnvironmentVariable(_prefix + "Parley__Chat__MaxMessageBytes", "100"); // the environment beats the file

        long acknowledged;
        using (IHost host = Build(settings))
        {
            await host.StartAsync().WaitAsync(Timeout);
            ParleyChatService chat = host.Services.GetRequiredService<ParleyChatService>();
            Assert.Equal(Path.GetFullPath(data), Path.GetFullPath(chat.Settings.DataDirectory));

            await using (ChatClient client = await ChatClient.ConnectAsync(new ParleyClientOptions { RemoteEndPoint = chat.LocalEndPoint, Framer = ChatProtocol.CreateClientFramer() }))
            {
                await client.JoinRoomAsync("general").WaitAsync(Timeout);
                acknowledged = (await client.SendMessageAsync("general", "kept across a restart").WaitAsync(Timeout)).Id;
                ChatServerException tooLong = await Assert.ThrowsAsync<ChatServerException>(() => client.SendMessageAsync("general", new string('x', 101)).WaitAsync(Timeout));
                Assert.Equal("message_too_long", tooLong.Code);
            }

            // The echo server: line framing from the file.
            ParleyServerService<LineEcho> echo = host.Services.GetRequiredService<ParleyServerService<LineEcho>>();
            using (var socket = new TcpClient())
            {
                await socket.ConnectAsync(echo.LocalEndPoint).WaitAsync(Timeout);
                NetworkStream stream = socket.GetStream();
                await stream.WriteAsync("hello\n"u8.ToArray());
                using var reader = new StreamReader(stream);
                Assert.Equal("hello", await reader.ReadLineAsync().WaitAsync(Timeout));
            }

            HealthReport health = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
            Assert.Equal(HealthStatus.Healthy, health.Status);
            Assert.Equal(4, health.Entries.Count);
            await host.StopAsync().WaitAsync(Timeout);
            Assert.False(chat.IsListening);
            Assert.Equal(HealthStatus.Unhealthy, (await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync()).Entries[ParleyServiceCollectionExtensions.ChatListeningCheck].Status);
        }

        // A second host on the same folder finds the message: the stop closed the journal.
        using IHost again = Build(settings);
        await again.StartAsync().WaitAsync(Timeout);
        ParleyChatService restarted = again.Services.GetRequiredService<ParleyChatService>();
        Assert.Equal(acknowledged, restarted.Chat!.LastMessageId);
        await using (ChatClient reader = await ChatClient.ConnectAsync(new ParleyClientOptions { RemoteEndPoint = restarted.LocalEndPoint, Framer = ChatProtocol.CreateClientFramer() }))
        {
            HistoryEvent history = await reader.GetHistoryAsync("general").WaitAsync(Timeout);
            Assert.Contains(history.Messages, message => message.Id == acknowledged && message.Content == "kept across a restart");
        }

        await again.StopAsync().WaitAsync(Timeout);
    }

    [Theory]
    [InlineData("Port", "70000", "Parley:Chat:Port: 70000 is not a port (0 to 65535)")]
    [InlineData("Host", "example.com", "Parley:Chat:Host: 'example.com' is not an IP address")]
    [InlineData("Auth", "maybe", "Parley:Chat:Auth: 'maybe' is not one of open, required")]
    [InlineData("MaxConnections", "-5", "Parley:Chat:MaxConnections: -5 must be more than 0")]
    [InlineData("Tls:CertificatePath", "/no/such/cert.pfx", "Parley:Chat:Tls:CertificatePath: '/no/such/cert.pfx' does not exist")]
    [InlineData("LoginTimeout", "00:00:00", "Parley:Chat:LoginTimeout: 00:00:00 must be more than 0")]
    public async Task A_bad_setting_stops_the_start_with_one_message_naming_its_key(string key, string value, string message)
    {
        Environment.SetEnvironmentVariable(_prefix + "Parley__Chat__" + key.Replace(":", "__", StringComparison.Ordinal), value);
        Environment.SetEnvironmentVariable(_prefix + "Parley__Chat__DataDirectory", Path.Combine(_folder, "data"));
        using IHost host = Build(settingsFile: null);
        OptionsValidationException refused = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().WaitAsync(Timeout));
        Assert.StartsWith(message, Assert.Single(refused.Failures), StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_folder, "data")), "nothing was opened");
    }

    [Fact]
    public async Task A_taken_port_fails_the_start_with_the_reason_and_leaves_the_journal_free()
    {
        Environment.SetEnvironmentVariable(_prefix + "Parley__Chat__DataDirectory", Path.Combine(_folder, "first"));
        using IHost first = Build(settingsFile: null);
        await first.StartAsync().WaitAsync(Timeout);
        int taken = first.Services.GetRequiredService<ParleyChatService>().LocalEndPoint.Port;

        string second = Path.Combine(_folder, "second");
        Environment.SetEnvironmentVariable(_prefix + "Parley__Chat__DataDirectory", second);
        Environment.SetEnvironmentVariable(_prefix + "Parley__Chat__Port", taken.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using (IHost clash = Build(settingsFile: null))
        {
            InvalidOperationException refused = await Assert.ThrowsAsync<InvalidOperationException>(() => clash.StartAsync().WaitAsync(Timeout));
            Assert.StartsWith($"The Parley chat server cannot listen on 127.0.0.1:{taken}: ", refused.Message, StringComparison.Ordinal);
        }

        // The failed start closed the journal it had opened: another host can take the folder.
        Environment.SetEnvironmentVariable(_prefix + "Parley__Chat__Port", "0");
        using IHost after = Build(settingsFile: null);
        await after.StartAsync().WaitAsync(Timeout);
        await after.StopAsync().WaitAsync(Timeout);
        await first.StopAsync().WaitAsync(Timeout);
    }

    [Fact]
    public async Task A_framing_that_does_not_exist_is_refused_for_a_server_too()
    {
        Environment.SetEnvironmentVariable(_prefix + "Parley__Echo__Framing", "xml");
        Environment.SetEnvironmentVariable(_prefix + "Parley__Chat__DataDirectory", Path.Combine(_folder, "data"));
        using IHost host = Build(settingsFile: null);
        OptionsValidationException refused = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().WaitAsync(Timeout));
        Assert.Equal("Parley:Echo:Framing: 'xml' is not a framing (length, line or raw)", Assert.Single(refused.Failures));
    }

    [Fact]
    public async Task The_journal_check_turns_unhealthy_when_the_data_folder_becomes_read_only()
    {
        string data = Path.Combine(_folder, "data");
        Environment.SetEnvironmentVariable(_prefix + "Parley__Chat__DataDirectory", data);
        using IHost host = Build(settingsFile: null);
        await host.StartAsync().WaitAsync(Timeout);
        HealthCheckService health = host.Services.GetRequiredService<HealthCheckService>();
        Assert.Equal(HealthStatus.Healthy, (await health.CheckHealthAsync()).Entries[ParleyServiceCollectionExtensions.JournalWritableCheck].Status);

        MakeReadOnly(data);
        try
        {
            HealthReport report = await health.CheckHealthAsync(check => check.Tags.Contains("ready"));
            Assert.Equal(HealthStatus.Unhealthy, report.Status);
            HealthReportEntry journal = report.Entries[ParleyServiceCollectionExtensions.JournalWritableCheck];
            Assert.Equal(HealthStatus.Unhealthy, journal.Status);
            Assert.Contains("cannot be written", journal.Description, StringComparison.Ordinal);
            Assert.Equal(HealthStatus.Healthy, report.Entries[ParleyServiceCollectionExtensions.ChatListeningCheck].Status);
        }
        finally
        {
            MakeWritable(data);
        }

        Assert.Equal(HealthStatus.Healthy, (await health.CheckHealthAsync()).Entries[ParleyServiceCollectionExtensions.JournalWritableCheck].Status);
        Assert.Empty(Directory.GetFiles(data, ".health-*")); // the probes leave nothing behind
        await host.StopAsync().WaitAsync(Timeout);
    }

    [Fact]
    public async Task The_sample_application_serves_and_stops_cleanly_on_sigterm()
    {
        using Process process = StartSample(new Dictionary<string, string>
        {
            ["Parley__Chat__Port"] = "0",
            ["Parley__Echo__Port"] = "0",
            ["Parley__Chat__DataDirectory"] = Path.Combine(_folder, "sample-data"),
            ["Logging__Console__FormatterName"] = "simple",
            ["Logging__Console__FormatterOptions__SingleLine"] = "true",
        });
        var output = new StringBuilder();
        var lines = new System.Collections.Concurrent.BlockingCollection<string>();
        process.OutputDataReceived += (_, line) => { if (line.Data is { } text) { lock (output) { output.AppendLine(text); } lines.Add(text); } };
        process.ErrorDataReceived += (_, line) => { if (line.Data is { } text) { lock (output) { output.AppendLine(text); } lines.Add(text); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            int chatPort = 0, echoPort = 0;
            bool healthy = false;
            using var deadline = new CancellationTokenSource(Timeout);
            while (chatPort == 0 || echoPort == 0 || !healthy)
            {
                string line = lines.Take(deadline.Token);
                if (ChatListening().Match(line) is { Success: true } chat)
                {
                    chatPort = int.Parse(chat.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
                }
                else if (EchoListening().Match(line) is { Success: true } echo)
                {
                    echoPort = int.Parse(echo.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
                }

                healthy |= line.Contains("health: Healthy", StringComparison.Ordinal);
            }

            await using (ChatClient client = await ChatClient.ConnectAsync(new ParleyClientOptions { RemoteEndPoint = new IPEndPoint(IPAddress.Loopback, chatPort), Framer = ChatProtocol.CreateClientFramer() }))
            {
                await client.JoinRoomAsync("general").WaitAsync(Timeout);
                Assert.True((await client.SendMessageAsync("general", "from the sample test").WaitAsync(Timeout)).Id > 0);
            }

            var replies = new System.Collections.Concurrent.BlockingCollection<byte[]>();
            await using (var echoClient = new ParleyClient(new ParleyClientOptions { RemoteEndPoint = new IPEndPoint(IPAddress.Loopback, echoPort) }))
            {
                echoClient.MessageReceived += (_, message) => replies.Add(System.Buffers.BuffersExtensions.ToArray(message));
                await echoClient.ConnectAsync().WaitAsync(Timeout);
                echoClient.Send("framed"u8);
                Assert.True(replies.TryTake(out byte[]? reply, Timeout));
                Assert.Equal("framed"u8.ToArray(), reply);
            }

            Assert.Equal(0, Kill(process.Id, 15));
            await process.WaitForExitAsync().WaitAsync(Timeout);
            Assert.True(process.ExitCode == 0, output.ToString());
            Assert.Contains("chat server stopped; journal closed", output.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
    }

    [Fact]
    public async Task The_sample_application_with_a_bad_setting_says_which_in_one_line_and_exits_non_zero()
    {
        using Process process = StartSample(new Dictionary<string, string> { ["Parley__Chat__Port"] = "70000", ["Parley__Chat__DataDirectory"] = Path.Combine(_folder, "never") });
        string output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(Timeout);
        Assert.Equal(2, process.ExitCode);
        Assert.Equal("Parley.Samples.Hosting: cannot start: Parley:Chat:Port: 70000 is not a port (0 to 65535)", output.Trim());
        Assert.False(Directory.Exists(Path.Combine(_folder, "never")));
    }

    private Process StartSample(Dictionary<string, string> environment)
    {
        var info = new ProcessStartInfo("dotnet", [SamplePath()])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _folder,
        };
        foreach ((string name, string value) in environment)
        {
            info.Environment[name] = value;
        }

        return Process.Start(info)!;
    }

    private static string SamplePath()
    {
        string sample = Path.Combine(AppContext.BaseDirectory.Replace("Parley.Hosting.Tests", "Parley.Samples.Hosting", StringComparison.Ordinal)
            .Replace(Path.Combine("tests", "Parley.Samples.Hosting"), Path.Combine("samples", "Parley.Samples.Hosting"), StringComparison.Ordinal), "Parley.Samples.Hosting.dll");
        Assert.True(File.Exists(sample), sample);
        return sample;
    }

    private IHost Build(string? settingsFile)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        if (settingsFile is not null)
        {
            builder.Configuration.AddJsonFile(settingsFile);
        }

        builder.Configuration.AddEnvironmentVariables(_prefix);
        builder.Services.AddParleyChat(builder.Configuration.GetSection("Parley:Chat"));
        builder.Services.AddParleyServer<LineEcho>(builder.Configuration.GetSection("Parley:Echo"));
        return builder.Build();
    }

    private static void MakeReadOnly(string folder)
    {
        if (Environment.UserName != "root")
        {
            File.SetUnixFileMode(folder, UnixFileMode.UserRead | UnixFileMode.UserExecute);
            return;
        }

        // Permissions do not stop root: the immutable attribute does (ext4, xfs, btrfs).
        Run("chattr", "+i", folder);
    }

    private static void MakeWritable(string folder)
    {
        if (Environment.UserName != "root")
        {
            File.SetUnixFileMode(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            return;
        }

        Run("chattr", "-i", folder);
    }

    private static void Run(string program, params string[] arguments)
    {
        using Process process = Process.Start(new ProcessStartInfo(program, arguments) { RedirectStandardError = true, UseShellExecute = false })!;
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{program} {string.Join(' ', arguments)}: {error}");
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);

    [GeneratedRegex(@"chat server listening on 127\.0\.0\.1:(\d+)")]
    private static partial Regex ChatListening();

    [GeneratedRegex(@"EchoHandler listening on 127\.0\.0\.1:(\d+)")]
    private static partial Regex EchoListening();
}

/// <summary>Sends every line back.</summary>
internal sealed class LineEcho : ParleyConnectionHandler
{
    public override async Task OnConnectedAsync(Connection connection, CancellationToken cancellationToken)
    {
        await foreach (System.Buffers.ReadOnlySequence<byte> line in connection.ReadMessagesAsync(cancellationToken))
        {
            connection.Send(line);
        }
    }
}
