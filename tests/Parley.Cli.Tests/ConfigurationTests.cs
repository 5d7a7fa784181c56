using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Parley.Chat;

namespace Parley.Cli.Tests;

/// <summary>
/// Settings from a <c>--config</c> file and <c>PARLEY_*</c> variables (precedence flags &gt; environment
/// &gt; file &gt; defaults, secrets from the environment or a file, masked when printed), JSON logs,
/// and systemd readiness — through the real executable.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed partial class ConfigurationTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("parley-config-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task Flags_beat_the_environment_which_beats_the_file_which_beats_the_defaults()
    {
        string config = Write("parley.json", """
            {
              // a comment, and a trailing comma: people write files like this
              "port": 9101,
              "max-message-bytes": 2048,
              "history-kb": 64,
              "allowed-origin": ["https://a.example", "https://b.example"],
            }
            """);
        await using ParleyProcess parley = ParleyProcess.Start(
            new Dictionary<string, string?> { ["PARLEY_PORT"] = "9102", ["PARLEY_HISTORY_KB"] = "32", ["PARLEY_LOG_LEVEL"] = "Warning" },
            "serve", "--config", config, "--history-kb", "16", "--print-config");
        Assert.Equal(0, await parley.WaitForExitAsync());

        Dictionary<string, (JsonElement Value, string Source)> settings = Settings(parley.Output);
        Assert.Equal((9102, "environment PARLEY_PORT"), (settings["port"].Value.GetInt32(), settings["port"].Source));
        Assert.Equal((16, "command line"), (settings["history-kb"].Value.GetInt32(), settings["history-kb"].Source));
        Assert.Equal((2048, config), (settings["max-message-bytes"].Value.GetInt32(), settings["max-message-bytes"].Source));
        Assert.Equal(("Warning", "environment PARLEY_LOG_LEVEL"), (settings["log-level"].Value.GetString(), settings["log-level"].Source));
        Assert.Equal((1024, "default"), (settings["journal-mb"].Value.GetInt32(), settings["journal-mb"].Source));
        Assert.Equal(["https://a.example", "https://b.example"], settings["allowed-origin"].Value.EnumerateArray().Select(origin => origin.GetString()));
    }

    [Fact]
    public async Task The_example_settings_file_in_deploy_is_valid()
    {
        string root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Parley.slnx")))
        {
            root = Path.GetDirectoryName(root)!;
        }

        string example = Path.Combine(root, "deploy", "parley.json");
        await using ParleyProcess parley = ParleyProcess.Start("serve", "--config", example, "--print-config");
        Assert.Equal(0, await parley.WaitForExitAsync());
        Dictionary<string, (JsonElement Value, string Source)> settings = Settings(parley.Output);
        Assert.Equal(("required", example), (settings["auth"].Value.GetString(), settings["auth"].Source));
        Assert.Equal(9464, settings["metrics-port"].Value.GetInt32());
    }

    [Fact]
    public async Task Secrets_are_masked_when_printed_and_a_secret_on_the_command_line_is_warned_about()
    {
        string config = Write("parley.json", """{ "cluster": "nats://bob:hunter2@127.0.0.1:4222" }""");
        await using (ParleyProcess fromEnvironment = ParleyProcess.Start(
            new Dictionary<string, string?> { ["PARLEY_TLS_PASSWORD"] = "s3cret-env" }, "serve", "--config", config, "--print-config"))
        {
            Assert.Equal(0, await fromEnvironment.WaitForExitAsync());
            Dictionary<string, (JsonElement Value, string Source)> settings = Settings(fromEnvironment.Output);
            Assert.Equal(("********", "environment PARLEY_TLS_PASSWORD"), (settings["tls-password"].Value.GetString(), settings["tls-password"].Source));
            Assert.Equal("nats://bob:********@127.0.0.1:4222", settings["cluster"].Value.GetString());
            Assert.DoesNotContain("s3cret-env", fromEnvironment.Output, StringComparison.Ordinal);
            Assert.DoesNotContain("hunter2", fromEnvironment.Output, StringComparison.Ordinal);
            Assert.DoesNotContain("warning", fromEnvironment.Output, StringComparison.Ordinal);
        }

        await using ParleyProcess onCommandLine = ParleyProcess.Start("echo", "--tls-password", "s3cret-flag", "--print-config");
        Assert.Equal(0, await onCommandLine.WaitForExitAsync());
        Assert.Contains("--tls-password on the command line can be read by every user", onCommandLine.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret-flag", onCommandLine.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_starts_from_a_file_and_the_environment_with_its_tls_password_read_from_a_file()
    {
        const string password = "pfx-pass-\u00e9";
        string certificate = Path.Combine(_folder, "server.pfx");
        using (X509Certificate2 made = CertCommand.SelfSigned(["localhost", "127.0.0.1"], days: 1))
        {
            File.WriteAllBytes(certificate, made.Export(X509ContentType.Pkcs12, password));
        }

        string passwordFile = Write("tls-password", password + "\n"); // as `echo pass > file` leaves it
        string data = Path.Combine(_folder, "data");
        string config = Write("parley.json", $$"""{ "port": 0, "web-port": 0, "tls-cert": {{JsonSerializer.Serialize(certificate)}}, "max-message-bytes": 100 }""");
        File.SetUnixFileMode(config, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await using ParleyProcess server = ParleyProcess.Start(
            new Dictionary<string, string?> { ["PARLEY_DATA"] = data, ["PARLEY_TLS_PASSWORD_FILE"] = passwordFile },
            "serve", "--config", config);
        Match listening = await server.WaitForLineAsync(@"serve listening on (\S+):(\d+) \(TLS, .*data: (\S+),");
        Assert.Equal(Path.GetFullPath(data), listening.Groups[3].Value);

        var endPoint = new IPEndPoint(IPAddress.Parse(listening.Groups[1].Value), int.Parse(listening.Groups[2].Value, CultureInfo.InvariantCulture));
        await using ChatClient client = await ChatClient.ConnectAsync(new ParleyClientOptions
        {
            RemoteEndPoint = endPoint,
            Framer = ChatProtocol.CreateClientFramer(),
            Tls = new TlsClientOptions { AllowUntrustedServerCertificate = true, TargetHost = "localhost" },
        });
        await client.JoinRoomAsync("general");
        await client.SendMessageAsync("general", "from a configured server");
        ChatServerException tooLong = await Assert.ThrowsAsync<ChatServerException>(() => client.SendMessageAsync("general", new string('x', 101)));
        Assert.Equal("message_too_long", tooLong.Code); // the file's limit, not the default 4096

        server.Terminate();
        Assert.Equal(0, await server.WaitForExitAsync());
        Assert.DoesNotContain(password, server.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("warning", server.Output, StringComparison.Ordinal); // a private file, no password on the command line
    }

    [Theory]
    [InlineData("""{ "prot": 9000 }""", "\"prot\" is not a setting of parley serve")]
    [InlineData("""{ "port": 70000 }""", "\"port\": --port: 70000 is out of range")]
    [InlineData("""{ "port": "ninety" }""", "\"port\": Cannot parse argument 'ninety'")]
    [InlineData("""{ "port": [1, 2] }""", "\"port\": takes one value, not a list")]
    [InlineData("""{ "durability": "sometimes" }""", "\"durability\": Argument 'sometimes' not recognized")]
    [InlineData("""{ "port": 1,, }""", "not JSON (line 1")]
    [InlineData("""[ "port", 1 ]""", "the settings must be a JSON object")]
    [InlineData("""{ "data": { "path": "x" } }""", "\"data\": takes a string, number or boolean, not object")]
    public async Task A_bad_file_is_one_clear_error_and_a_non_zero_exit(string content, string message)
    {
        string config = Write("bad.json", content);
        await using ParleyProcess parley = ParleyProcess.Start("serve", "--config", config);
        Assert.Equal(2, await parley.WaitForExitAsync());
        Assert.Contains(message, parley.Output, StringComparison.Ordinal);
        Assert.Single(parley.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries), line => line.StartsWith("parley serve: ", StringComparison.Ordinal));
        Assert.DoesNotContain("Unhandled exception", parley.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("listening", parley.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bad_environment_value_or_a_missing_file_names_where_it_came_from()
    {
        await using (ParleyProcess badPort = ParleyProcess.Start(new Dictionary<string, string?> { ["PARLEY_PORT"] = "70000" }, "echo"))
        {
            Assert.Equal(2, await badPort.WaitForExitAsync());
            Assert.Contains("parley echo: environment PARLEY_PORT: --port: 70000 is out of range", badPort.Output, StringComparison.Ordinal);
        }

        await using (ParleyProcess missing = ParleyProcess.Start(new Dictionary<string, string?> { ["PARLEY_CONFIG"] = Path.Combine(_folder, "nope.json") }, "http"))
        {
            Assert.Equal(2, await missing.WaitForExitAsync());
            Assert.Contains("parley http: --config", missing.Output, StringComparison.Ordinal);
            Assert.Contains("nope.json", missing.Output, StringComparison.Ordinal);
        }

        await using ParleyProcess missingSecret = ParleyProcess.Start(new Dictionary<string, string?> { ["PARLEY_TLS_PASSWORD_FILE"] = Path.Combine(_folder, "absent") }, "echo");
        Assert.Equal(2, await missingSecret.WaitForExitAsync());
        Assert.Contains("parley echo: PARLEY_TLS_PASSWORD_FILE=", missingSecret.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Switches_take_the_usual_spellings_a_byte_order_mark_is_fine_and_url_passwords_in_a_list_are_masked()
    {
        string config = Path.Combine(_folder, "bom.json");
        File.WriteAllBytes(config, [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes("""{ "accept-journal-damage": "yes", "cluster": "nats://bob:hunter2@a:4222,nats://bob:p@ss@b:4222" }""")]);
        await using (ParleyProcess parley = ParleyProcess.Start(new Dictionary<string, string?> { ["PARLEY_SHARE_PORT"] = "1" }, "serve", "--config", config, "--print-config"))
        {
            Assert.Equal(0, await parley.WaitForExitAsync());
            Dictionary<string, (JsonElement Value, string Source)> settings = Settings(parley.Output);
            Assert.True(settings["share-port"].Value.GetBoolean());
            Assert.True(settings["accept-journal-damage"].Value.GetBoolean());
            Assert.Equal("nats://bob:********@a:4222,nats://bob:********@b:4222", settings["cluster"].Value.GetString());
            Assert.DoesNotContain("hunter2", parley.Output, StringComparison.Ordinal);
            Assert.DoesNotContain("p@ss", parley.Output, StringComparison.Ordinal);
        }

        await using ParleyProcess bad = ParleyProcess.Start(new Dictionary<string, string?> { ["PARLEY_SHARE_PORT"] = "perhaps" }, "echo");
        Assert.Equal(2, await bad.WaitForExitAsync());
        Assert.Equal("parley echo: environment PARLEY_SHARE_PORT: 'perhaps' is not true or false (also 1/0, yes/no, on/off)", bad.Output.Trim());
    }

    [Theory]
    [InlineData("--config")]
    [InlineData("--config", "a.json", "--config", "b.json")]
    public async Task A_config_option_without_one_file_is_a_parse_error_not_a_crash(params string[] arguments)
    {
        await using ParleyProcess parley = ParleyProcess.Start(["serve", .. arguments]);
        Assert.NotEqual(0, await parley.WaitForExitAsync());
        Assert.Contains("--config", parley.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", parley.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_settings_file_that_is_not_utf8_or_a_device_is_refused_in_one_line()
    {
        string config = Path.Combine(_folder, "latin1.json");
        File.WriteAllBytes(config, [.. "{\"data\": \""u8, 0xFF, 0xFE, .. "\"}"u8]);
        await using (ParleyProcess latin1 = ParleyProcess.Start("serve", "--config", config))
        {
            Assert.Equal(2, await latin1.WaitForExitAsync());
            Assert.Equal($"parley serve: --config {config}: not UTF-8 text", latin1.Output.Trim());
        }

        await using ParleyProcess device = ParleyProcess.Start("serve", "--config", "/dev/zero");
        Assert.Equal(2, await device.WaitForExitAsync());
        Assert.StartsWith("parley serve: --config /dev/zero: ", device.Output.Trim(), StringComparison.Ordinal); // not read without end
        Assert.DoesNotContain('\n', device.Output.Trim());
    }

    [Fact]
    public async Task A_notify_socket_that_cannot_be_reached_is_a_warning_and_the_server_runs_and_stops_cleanly()
    {
        await using ParleyProcess echo = ParleyProcess.Start(new Dictionary<string, string?> { ["NOTIFY_SOCKET"] = Path.Combine(_folder, "nobody-listens.sock") }, "echo", "--port", "0");
        await echo.WaitForLineAsync("cannot notify systemd at NOTIFY_SOCKET=");
        await echo.WaitForLineAsync("listening on");
        echo.Terminate();
        Assert.Equal(0, await echo.WaitForExitAsync());
        Assert.Contains("stopped", echo.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", echo.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_file_holding_a_secret_that_others_can_read_is_warned_about()
    {
        string groupOnly = Write("group.json", """{ "tls-password": "in-a-file" }""");
        File.SetUnixFileMode(groupOnly, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        await using (ParleyProcess quiet = ParleyProcess.Start("echo", "--config", groupOnly, "--print-config"))
        {
            Assert.Equal(0, await quiet.WaitForExitAsync());
            Assert.DoesNotContain("warning", quiet.Output, StringComparison.Ordinal); // root:parley 640 is how a service reads it
        }

        string config = Write("parley.json", """{ "tls-password": "in-a-file" }""");
        File.SetUnixFileMode(config, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        await using ParleyProcess parley = ParleyProcess.Start("echo", "--config", config, "--print-config");
        Assert.Equal(0, await parley.WaitForExitAsync());
        Assert.Contains($"{config} holds \"tls-password\" and every user of the machine can read it; chmod o-r", parley.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("in-a-file", parley.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_json_logs_every_output_line_is_a_json_object_the_start_line_included()
    {
        await using ParleyProcess echo = ParleyProcess.Start("echo", "--port", "0", "--log-format", "json", "--summary-interval", "0.2");
        Match listening = await echo.WaitForLineAsync(@"parley echo listening on (\S+):(\d+)");
        var endPoint = new IPEndPoint(IPAddress.Parse(listening.Groups[1].Value), int.Parse(listening.Groups[2].Value, CultureInfo.InvariantCulture));
        var replies = new System.Collections.Concurrent.BlockingCollection<byte[]>();
        await using (var client = new ParleyClient(new ParleyClientOptions { RemoteEndPoint = endPoint }))
        {
            client.MessageReceived += (_, message) => replies.Add(System.Buffers.BuffersExtensions.ToArray(message));
            await client.ConnectAsync().WaitAsync(ParleyProcess.Timeout);
            client.Send("ping"u8);
            Assert.True(replies.TryTake(out byte[]? reply, ParleyProcess.Timeout));
            Assert.Equal("ping"u8.ToArray(), reply);
        }

        await echo.WaitForLineAsync("\"Category\":\"parley.echo\".*connections"); // a summary entry, as JSON
        echo.Terminate();
        Assert.Equal(0, await echo.WaitForExitAsync());

        string[] lines = echo.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length >= 3, echo.Output);
        foreach (string line in lines)
        {
            using JsonDocument entry = JsonDocument.Parse(line); // throws on any line that is not JSON
            Assert.True(entry.RootElement.TryGetProperty("LogLevel", out _), line);
            Assert.True(entry.RootElement.TryGetProperty("Timestamp", out _), line);
        }
    }

    [Fact]
    public async Task Under_systemd_the_server_says_ready_once_it_listens_and_stopping_when_it_stops()
    {
        string socketPath = Path.Combine(_folder, "notify.sock");
        using var notify = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        notify.Bind(new UnixDomainSocketEndPoint(socketPath));

        await using ParleyProcess echo = ParleyProcess.Start(new Dictionary<string, string?> { ["NOTIFY_SOCKET"] = socketPath }, "echo", "--port", "0");
        string ready = await ReceiveAsync(notify);
        Assert.Equal("READY=1", ready);
        Assert.Contains("listening on", echo.Output, StringComparison.Ordinal); // ready came after the port was bound

        echo.Terminate();
        Assert.Equal("STOPPING=1", await ReceiveAsync(notify));
        Assert.Equal(0, await echo.WaitForExitAsync());
    }

    private static async Task<string> ReceiveAsync(Socket socket)
    {
        byte[] buffer = new byte[256];
        using var deadline = new CancellationTokenSource(ParleyProcess.Timeout);
        int length = await socket.ReceiveAsync(buffer, SocketFlags.None, deadline.Token);
        return Encoding.UTF8.GetString(buffer, 0, length).Trim();
    }

    /// <summary>The settings <c>--print-config</c> printed: each key's value and the source in its
    /// comment (defaults are printed commented out).</summary>
    private static Dictionary<string, (JsonElement Value, string Source)> Settings(string output)
    {
        string json = output[output.IndexOf("{\n", StringComparison.Ordinal)..(output.LastIndexOf('}') + 1)];
        using (JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }))
        {
            // The whole output is a valid settings file.
        }

        var settings = new Dictionary<string, (JsonElement, string)>();
        foreach (Match line in SettingLine().Matches(json))
        {
            bool commented = line.Groups[1].Success;
            string source = line.Groups[4].Value;
            Assert.Equal(source == "default", commented);
            using JsonDocument value = JsonDocument.Parse(line.Groups[3].Value);
            settings[line.Groups[2].Value] = (value.RootElement.Clone(), source);
        }

        Assert.Equal(json.Split('\n').Count(text => text.StartsWith("  ", StringComparison.Ordinal)), settings.Count);
        return settings;
    }

    [GeneratedRegex("""^  (// )?"([a-z-]+)": (.*?),? // (.+)$""", RegexOptions.Multiline)]
    private static partial Regex SettingLine();

    private string Write(string name, string content)
    {
        string path = Path.Combine(_folder, name);
        File.WriteAllText(path, content);
        return path;
    }
}
