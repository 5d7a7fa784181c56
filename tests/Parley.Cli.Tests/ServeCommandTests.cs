using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Parley.Cli.Tests;

/// <summary>The chat server as a user runs it: the real <c>parley serve</c> process, plain TCP line clients.</summary>
public sealed partial class ServeCommandTests : IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "parley-serve-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }

    private static async Task CreateCertificateAsync(string pfx)
    {
        await using ParleyProcess cert = ParleyProcess.Start("cert", "create", "--out", pfx);
        Assert.Equal(0, await cert.WaitForExitAsync());
        Assert.Contains("wrote " + pfx, cert.Output);
    }

    [Fact]
    public async Task A_second_serve_or_echo_on_a_port_in_use_exits_with_address_in_use()
    {
        (ParleyProcess server, IPEndPoint endPoint) = await ParleyProcess.StartServeAsync("--data", _data);
        await using (server)
        {
            string port = endPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            await using (ParleyProcess second = ParleyProcess.Start("serve", "--port", port, "--data", _data + "-second"))
            {
                Assert.NotEqual(0, await second.WaitForExitAsync());
                Assert.Contains("ddress already in use", second.Output);
                Assert.DoesNotContain("Stopping", second.Output); // it never started: nothing to stop
                Assert.DoesNotContain("Unhandled exception", second.Output);
            }

            await ParleyProcess.AssertRefusesAsync("ddress already in use", "echo", "--port", port);
        }
    }

    [Fact]
    public async Task Serve_chats_over_plain_lines_stops_on_sigterm_and_the_journal_dump_shows_the_message()
    {
        (ParleyProcess server, IPEndPoint endPoint) = await ParleyProcess.StartServeAsync("--data", _data);
        await using (server)
        {
            using LineClient client = await LineClient.ConnectAsync(endPoint);
            JsonElement login = await client.WaitForAsync("login_successful");
            string user = login.GetProperty("u").GetString()!;
            await client.SendAsync("""{"_ct":"join_room","r":"general"}""");
            await client.WaitForAsync("room_participation");
            await client.SendAsync("""{"_ct":"send_message","r":"general","c":"hello from a test"}""");
            await client.WaitForAsync("message_ack");
            server.Terminate();
            Assert.Equal(0, await server.WaitForExitAsync());
            Assert.Null(await client.NextAsync()); // the server closed the session on its way out

            await using ParleyProcess dump = ParleyProcess.Start("journal", "dump", "--data", _data);
            Assert.Equal(0, await dump.WaitForExitAsync());
            Assert.Matches(@"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} -- #general " + user + ": hello from a test$", dump.Output.Trim());
        }
    }

    [Fact]
    public async Task A_damaged_journal_stops_serve_verify_and_dump_say_so_and_repair_lets_it_start_keeping_the_original()
    {
        (ParleyProcess server, IPEndPoint endPoint) = await ParleyProcess.StartServeAsync("--data", _data);
        await using (server)
        {
            using LineClient client = await LineClient.ConnectAsync(endPoint);
            await client.WaitForAsync("login_successful");
            await client.SendAsync("""{"_ct":"join_room","r":"general"}""");
            await client.WaitForAsync("room_participation");
            for (int i = 0; i < 40; i++)
            {
                await client.SendAsync($$"""{"_ct":"send_message","r":"general","c":"message {{i}}"}""");
                await client.WaitForAsync("message_ack");
            }

            server.Terminate();
            Assert.Equal(0, await server.WaitForExitAsync());
        }

        string journal = Path.Combine(_data, "journal");
        string segment = Directory.GetFiles(journal, "*.seg").Single();
        byte[] bytes = await File.ReadAllBytesAsync(segment);
        bytes[bytes.Length / 2] ^= 0x08; // one byte in the middle: one acknowledged message damaged
        await File.WriteAllBytesAsync(segment, bytes);

        await using (ParleyProcess refused = ParleyProcess.Start("serve", "--port", "0", "--data", _data))
        {
            Assert.Equal(2, await refused.WaitForExitAsync());
            Assert.Contains("is damaged", refused.Output);
            Assert.Contains("parley journal repair", refused.Output);
            Assert.DoesNotContain("listening", refused.Output);
        }

        Assert.Equal(bytes, await File.ReadAllBytesAsync(segment)); // refusing changed nothing

        await using (ParleyProcess verify = ParleyProcess.Start("journal", "verify", "--data", _data))
        {
            Assert.Equal(1, await verify.WaitForExitAsync());
            Assert.Contains("LOST:", verify.Output);
            Assert.Contains("39 record(s)", verify.Output);
        }

        await using (ParleyProcess dump = ParleyProcess.Start("journal", "dump", "--data", _data))
        {
            Assert.Equal(1, await dump.WaitForExitAsync());
            Assert.Equal(39, dump.Output.Split('\n').Count(line => line.Contains("#general", StringComparison.Ordinal)));
            Assert.Contains("warning:", dump.Output);
        }

        await using (ParleyProcess repair = ParleyProcess.Start("journal", "repair", "--data", _data))
        {
            Assert.Equal(0, await repair.WaitForExitAsync());
            Assert.Contains("repaired: 39 record(s)", repair.Output);
        }

        string backup = Assert.Single(Directory.GetDirectories(_data, "journal.damaged-*"));
        Assert.Equal(bytes, await File.ReadAllBytesAsync(Path.Combine(backup, Path.GetFileName(segment))));
        await using (ParleyProcess verify = ParleyProcess.Start("journal", "verify", "--data", _data))
        {
            Assert.Equal(0, await verify.WaitForExitAsync());
            Assert.Contains("clean", verify.Output);
        }

        (ParleyProcess again, IPEndPoint endPoint2) = await ParleyProcess.StartServeAsync("--data", _data);
        await using (again)
        {
            using LineClient reader = await LineClient.ConnectAsync(endPoint2);
            await reader.WaitForAsync("login_successful");
            await reader.SendAsync("""{"_ct":"history","r":"general","limit":200}""");
            Assert.Equal(39, (await reader.WaitForAsync("history")).GetProperty("ms").GetArrayLength());
            again.Terminate();
            int code = await again.WaitForExitAsync();
            Assert.True(code == 0, $"exit {code}:\n{again.Output}");
        }
    }

    [Fact]
    public async Task A_malformed_rooms_file_stops_serve_at_start_with_the_file_line_and_reason()
    {
        Directory.CreateDirectory(_data);
        string rooms = Path.Combine(_data, "rooms.json");
        await File.WriteAllTextAsync(rooms, "[\n  {\"name\": \"ok\", \"description\": \"fine\"},\n  {\"name\": \"ok\", \"description\": \"again\"}\n]\n");
        await using ParleyProcess server = ParleyProcess.Start("serve", "--port", "0", "--data", _data, "--rooms", rooms);
        Assert.Equal(2, await server.WaitForExitAsync());
        Assert.Contains($"{rooms}:3: room \"ok\" is listed twice", server.Output);
    }

    [Fact]
    public async Task Users_added_on_the_command_line_can_log_in_to_a_server_requiring_authentication()
    {
        await using (ParleyProcess add = ParleyProcess.Start("users", "add", "alice", "--data", _data))
        {
            await add.WriteInputAndCloseAsync("wonderland\n");
            Assert.Equal(0, await add.WaitForExitAsync());
        }

        string stored = await File.ReadAllTextAsync(Path.Combine(_data, "users.json"));
        Assert.DoesNotContain("wonderland", stored);

        (ParleyProcess server, IPEndPoint endPoint) = await ParleyProcess.StartServeAsync("--data", _data, "--auth", "required");
        await using (server)
        {
            using LineClient client = await LineClient.ConnectAsync(endPoint);
            await client.SendAsync("""{"_ct":"login","u":"alice","p":"nope"}""");
            Assert.Equal("login_failed", (await client.WaitForAsync("error")).GetProperty("code").GetString());
            await client.SendAsync("""{"_ct":"login","u":"alice","p":"wonderland"}""");
            Assert.Equal("alice", (await client.WaitForAsync("login_successful")).GetProperty("u").GetString());
        }

        await using ParleyProcess list = ParleyProcess.Start("users", "list", "--data", _data);
        Assert.Equal(0, await list.WaitForExitAsync());
        Assert.Equal("alice", list.Output.Trim());
    }

    [Theory]
    [InlineData("always")]
    [InlineData("batch")]
    [InlineData("none")] // a process crash keeps what was written; only a power cut loses unflushed records
    public async Task Every_acknowledged_message_is_in_history_after_the_server_is_killed_during_writes(string durability)
    {
        (ParleyProcess server, IPEndPoint endPoint) = await ParleyProcess.StartServeAsync("--data", _data, "--durability", durability);
        var acked = new ConcurrentDictionary<string, ConcurrentBag<long>>();
        string[] rooms = ["general", "random", "help", "dotnet"];
        await using (server)
        {
            int total = 0;
            using var killed = new CancellationTokenSource();
            Task[] writers = [.. rooms.Select(room => Task.Run(async () =>
            {
                using LineClient client = await LineClient.ConnectAsync(endPoint);
                await client.WaitForAsync("login_successful");
                await client.SendAsync($$"""{"_ct":"join_room","r":"{{room}}"}""");
                await client.WaitForAsync("room_participation");
                var ids = acked.GetOrAdd(room, _ => []);
                try
                {
                    // Keep messages flowing (pipelined, no waiting for acks) until the kill cuts the connection.
                    Task sending = Task.Run(async () =>
                    {
                        for (int i = 0; !killed.IsCancellationRequested; i++)
                        {
                            await client.SendAsync($$"""{"_ct":"send_message","r":"{{room}}","c":"{{room}} {{i}}"}""");
                            if (i % 20 == 19)
                            {
                                await Task.Delay(1);
                            }
                        }
                    });
                    while (await client.NextAsync() is JsonElement next)
                    {
                        if (next.GetProperty("_et").GetString() == "message_ack")
                        {
                            ids.Add(next.GetProperty("id").GetInt64());
                            Interlocked.Increment(ref total);
                        }
                    }

                    await sending;
                }
                catch (IOException)
                {
                    // The kill resets the connection: expected.
                }
                catch (SocketException)
                {
                    // Same.
                }
            }))];

            using (var deadline = new CancellationTokenSource(ParleyProcess.Timeout))
            {
                while (Volatile.Read(ref total) < 1200)
                {
                    await Task.Delay(5, deadline.Token);
                }
            }

            server.KillHard(); // mid-stream: writes in flight, acks in flight
            await killed.CancelAsync();
            await server.WaitForExitAsync();
            await Task.WhenAll(writers).WaitAsync(ParleyProcess.Timeout);
        }

        Assert.True(acked.Values.Sum(b => b.Count) >= 1200);
        (ParleyProcess restarted, IPEndPoint again) = await ParleyProcess.StartServeAsync("--data", _data);
        await using (restarted)
        {
            using LineClient reader = await LineClient.ConnectAsync(again);
            await reader.WaitForAsync("login_successful");
            foreach (string room in rooms)
            {
                var stored = new HashSet<long>();
                long before = long.MaxValue;
                while (true)
                {
                    await reader.SendAsync($$"""{"_ct":"history","r":"{{room}}","before":{{before}},"limit":200}""");
                    JsonElement page = await reader.WaitForAsync("history");
                    JsonElement[] messages = [.. page.GetProperty("ms").EnumerateArray()];
                    foreach (JsonElement message in messages)
                    {
                        stored.Add(message.GetProperty("id").GetInt64());
                        Assert.StartsWith(room + " ", message.GetProperty("c").GetString());
                    }

                    if (!page.GetProperty("more").GetBoolean() || messages.Length == 0)
                    {
                        break;
                    }

                    before = messages[0].GetProperty("id").GetInt64();
                }

                long[] missing = [.. acked[room].Where(id => !stored.Contains(id))];
                Assert.True(missing.Length == 0, $"{room}: acknowledged but not in history after the crash: {string.Join(", ", missing.Take(10))}");
            }

            // A new message never takes an id a message acknowledged before the crash had.
            await reader.SendAsync("""{"_ct":"join_room","r":"general"}""");
            await reader.WaitForAsync("user_joined_room");
            await reader.SendAsync("""{"_ct":"send_message","r":"general","c":"after the crash"}""");
            long next = (await reader.WaitForAsync("message_ack")).GetProperty("id").GetInt64();
            Assert.True(next > acked.Values.SelectMany(b => b).Max(), $"id {next} after the crash");
        }
    }

    [Fact]
    public async Task The_chat_client_driven_by_a_pipe_joins_sends_and_prints_one_line_per_event()
    {
        (ParleyProcess server, IPEndPoint endPoint) = await ParleyProcess.StartServeAsync("--data", _data);
        await using (server)
        {
            using LineClient watcher = await LineClient.ConnectAsync(endPoint);
            await watcher.WaitForAsync("login_successful");
            await watcher.SendAsync("""{"_ct":"join_room","r":"general"}""");
            await watcher.WaitForAsync("room_participation");

            await using ParleyProcess chat = ParleyProcess.Start("chat", "--port", endPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
            await chat.WriteInputAndCloseAsync("/join general\nhello from the terminal client\n/who\n/nonsense\n");
            Assert.Equal(0, await chat.WaitForExitAsync());
            Assert.Matches(@"(?m)^\* logged in as user-[0-9a-f]+; rooms: general, random", chat.Output);
            Assert.Matches(@"(?m)^\[#general\] user-[0-9a-f]+: hello from the terminal client$", chat.Output);
            Assert.Matches(@"(?m)^\* stored #general id \d+$", chat.Output);
            Assert.Matches(@"(?m)^\* in #general: ", chat.Output);
            Assert.Contains("commands: /join ROOM", chat.Output);

            JsonElement message = await watcher.WaitForAsync("user_message");
            Assert.Equal("hello from the terminal client", message.GetProperty("c").GetString());
        }
    }

    [Fact]
    public async Task The_chat_client_logs_in_with_the_password_from_the_first_piped_line_when_the_server_requires_it()
    {
        await using (ParleyProcess add = ParleyProcess.Start("users", "add", "carol", "--data", _data))
        {
            await add.WriteInputAndCloseAsync("pa55word\n");
            Assert.Equal(0, await add.WaitForExitAsync());
        }

        (ParleyProcess server, IPEndPoint endPoint) = await ParleyProcess.StartServeAsync("--data", _data, "--auth", "required");
        await using (server)
        {
            await using ParleyProcess chat = ParleyProcess.Start("chat", "--port", endPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--user", "carol");
            await chat.WriteInputAndCloseAsync("pa55word\n/join random\nsigned in\n");
            Assert.Equal(0, await chat.WaitForExitAsync());
            Assert.Contains("* logged in as carol", chat.Output);
            Assert.Contains("[#random] carol: signed in", chat.Output);
        }
    }

    [Theory]
    [InlineData("rust-readme", "--clients", "6", "--rate", "20", "--duration", "2")]
    [InlineData("rust-stress", "--clients", "12", "--duration", "12")] // the first user joins at once and sends within its first 10 s
    [InlineData("burst", "--clients", "30")]
    public async Task Bench_chat_profiles_against_a_child_server_report_no_loss_as_json(string profile, params string[] extra)
    {
        await using ParleyProcess bench = ParleyProcess.Start(["bench", "chat", "--profile", profile, "--json", .. extra]);
        Assert.Equal(0, await bench.WaitForExitAsync());
        string output = bench.Output;
        using JsonDocument json = bench.JsonOutput();
        JsonElement root = json.RootElement;
        Assert.Equal("chat", root.GetProperty("workload").GetString());
        Assert.Equal(profile, root.GetProperty("profile").GetString());
        Assert.Equal(0, root.GetProperty("lost").GetInt64());
        Assert.Equal(0, root.GetProperty("duplicated").GetInt64());
        Assert.Equal(root.GetProperty("expected").GetInt64(), root.GetProperty("delivered").GetInt64());
        Assert.True(root.GetProperty("delivered").GetInt64() > 0);
        Assert.True(root.GetProperty("server").GetProperty("peak_rss_mb").GetDouble() > 0);
    }

    // The bench takes its rooms from the server's greeting, as a client of the protocol does: it
    // runs against `parley serve --rooms FILE` (it used to join the 24 built-in names, which such a
    // server does not have), and completes a greeting cut short (3000 rooms do not fit one event)
    // with list_rooms pages.
    // rust-stress with 3 rooms: a user's 4th message (the first in a room it already sent to)
    // comes within 41 s for the first user, who joins at once; the bench counted it as a
    // duplicate, and rooms with names beyond ASCII as one room (review of session 11).
    [Theory]
    [InlineData(3, "room", "rust-readme", "--clients", "8", "--rate", "20", "--duration", "2")] // 4 users a room, not 2
    [InlineData(3000, "room", "rust-readme", "--clients", "8", "--rate", "20", "--duration", "2")]
    [InlineData(3, "café", "rust-stress", "--clients", "6", "--duration", "42")] // 3 rooms, not 5, for each user
    public async Task Bench_chat_takes_the_rooms_from_the_servers_greeting(int count, string prefix, string profile, params string[] load)
    {
        Directory.CreateDirectory(_data);
        string roomsFile = Path.Combine(_data, "rooms.json");
        string description = new('d', 90);
        await File.WriteAllTextAsync(roomsFile, JsonSerializer.Serialize(Enumerable.Range(0, count).Select(i => new Dictionary<string, string> { ["name"] = $"{prefix}-{i:D4}", ["description"] = description })));
        (ParleyProcess server, IPEndPoint endPoint) = await ParleyProcess.StartServeAsync("--data", Path.Combine(_data, "store"), "--rooms", roomsFile);
        await using (server)
        {
            await using ParleyProcess bench = ParleyProcess.Start(["bench", "chat", "--profile", profile, "--target", endPoint.ToString(), .. load, "--json"]);
            Assert.Equal(0, await bench.WaitForExitAsync(TimeSpan.FromSeconds(120))); // a bound: the stress case runs 42 s
            using JsonDocument json = bench.JsonOutput();
            JsonElement root = json.RootElement;
            Assert.Equal(count, root.GetProperty("rooms").GetInt32());
            Assert.Equal(0, root.GetProperty("lost").GetInt64());
            Assert.Equal(0, root.GetProperty("errors").GetInt64());
            Assert.Equal(0, root.GetProperty("duplicated").GetInt64());
            Assert.Equal(0, root.GetProperty("reordered").GetInt64());
            Assert.True(root.GetProperty("delivered").GetInt64() > 0, bench.Output);
            Assert.Equal(root.GetProperty("expected").GetInt64(), root.GetProperty("delivered").GetInt64());
        }
    }

    [Fact]
    public async Task Serve_with_a_development_certificate_talks_TLS_to_the_chat_client_and_refuses_it_without_insecure()
    {
        Directory.CreateDirectory(_data);
        string pfx = Path.Combine(_data, "dev.pfx");
        await CreateCertificateAsync(pfx);

        (ParleyProcess server, IPEndPoint endPoint) = await ParleyProcess.StartServeAsync("--data", _data, "--tls-cert", pfx);
        await using (server)
        {
            Assert.Contains("(TLS, ", server.Output);
            string port = endPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            await using (ParleyProcess chat = ParleyProcess.Start("chat", "--port", port, "--tls", "--insecure"))
            {
                await chat.WriteInputAndCloseAsync("/join general\nover tls\n");
                Assert.Equal(0, await chat.WaitForExitAsync());
                Assert.Matches(@"(?m)^\[#general\] user-[0-9a-f]+: over tls$", chat.Output);
            }

            await using (ParleyProcess strict = ParleyProcess.Start("chat", "--port", port, "--tls"))
            {
                await strict.WriteInputAndCloseAsync("");
                Assert.Equal(1, await strict.WaitForExitAsync());
                Assert.Contains("cannot connect", strict.Output);
            }

            // A plain-text client gets no answer: the server ends the failed handshake and closes it.
            using LineClient plain = await LineClient.ConnectAsync(endPoint);
            await plain.SendAsync("""{"_ct":"ping"}""");
            JsonElement? reply = null;
            try
            {
                reply = await plain.NextAsync();
            }
            catch (Exception ex) when (ex is IOException or JsonException)
            {
                // A TLS alert, or a reset: not a chat event either way.
            }

            Assert.Null(reply);
        }
    }

    [Fact]
    public async Task A_certificate_file_that_cannot_be_loaded_is_a_clear_error()
    {
        Directory.CreateDirectory(_data);
        string bad = Path.Combine(_data, "bad.pfx");
        await File.WriteAllTextAsync(bad, "not a certificate");
        await using ParleyProcess server = ParleyProcess.Start("serve", "--port", "0", "--data", _data, "--tls-cert", bad);
        Assert.Equal(2, await server.WaitForExitAsync());
        Assert.Contains("--tls-cert " + bad, server.Output);
    }

    [Fact]
    public async Task Bench_against_a_TLS_target_refuses_its_self_signed_certificate_unless_insecure()
    {
        Directory.CreateDirectory(_data);
        string pfx = Path.Combine(_data, "dev.pfx");
        await CreateCertificateAsync(pfx);

        (ParleyProcess server, IPEndPoint endPoint) = await ParleyProcess.StartEchoAsync("--tls-cert", pfx);
        await using (server)
        {
            string target = $"127.0.0.1:{endPoint.Port}";
            await using (ParleyProcess strict = ParleyProcess.Start("bench", "echo", "--target", target, "--tls", "--clients", "1", "--inflight", "10", "--duration", "1"))
            {
                Assert.Equal(1, await strict.WaitForExitAsync());
                Assert.Contains("could not connect", strict.Output);
            }

            await using ParleyProcess insecure = ParleyProcess.Start("bench", "echo", "--target", target, "--tls", "--insecure", "--clients", "1", "--inflight", "10", "--duration", "1", "--json");
            Assert.Equal(0, await insecure.WaitForExitAsync());
            Assert.Contains("\"workload\": \"echo\"", insecure.Output);
        }
    }
}
