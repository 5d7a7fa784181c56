using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;

namespace Parley.Cli.Tests;

/// <summary>The terminal chat client as a script drives it: real <c>parley chat</c> and <c>parley serve</c> processes, standard input piped.</summary>
public sealed class ChatClientTests : IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "parley-chat-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }

    private static string Port(int port) => port.ToString(CultureInfo.InvariantCulture);

    private static string Port(IPEndPoint endPoint) => Port(endPoint.Port);

    private async Task AddUserAsync(string name, string password)
    {
        await using ParleyProcess add = ParleyProcess.Start("users", "add", name, "--data", _data);
        await add.WriteInputAndCloseAsync(password + "\n");
        Assert.Equal(0, await add.WaitForExitAsync());
    }

    /// <summary>Another user of the same server: joins a room, says one thing, leaves once it is stored.</summary>
    private static async Task SayAsync(int port, string room, string text, params string[] login)
    {
        await using ParleyProcess other = ParleyProcess.Start(["chat", "--port", Port(port), .. login]);
        await other.WriteInputAndCloseAsync((login.Length > 0 ? "pa55word\n" : "") + $"/join {room}\n{text}\n");
        Assert.Equal(0, await other.WaitForExitAsync());
    }

    [Fact]
    public async Task Joining_a_room_that_does_not_exist_prints_the_error_and_keeps_the_current_room()
    {
        (ParleyProcess server, IPEndPoint endPoint) = await ParleyProcess.StartServeAsync("--data", _data);
        await using (server)
        {
            await using ParleyProcess chat = ParleyProcess.Start("chat", "--port", Port(endPoint));
            await chat.WriteInputAndCloseAsync("/join general\n/join nosuchroom\nstill in general\n");
            Assert.Equal(0, await chat.WaitForExitAsync());
            Assert.Contains("! unknown_room: no room named \"nosuchroom\"", chat.Output);
            Assert.DoesNotContain("you joined #nosuchroom", chat.Output);
            Assert.Matches(@"(?m)^\[#general\] user-[0-9a-f]+: still in general$", chat.Output);
        }
    }

    [Theory]
    [InlineData("open")]
    [InlineData("required")]
    public async Task After_an_outage_the_client_says_it_is_offline_refuses_to_send_then_reconnects_rejoins_and_shows_what_it_missed(string auth)
    {
        string[] login = auth == "required" ? ["--user", "carol"] : [];
        if (auth == "required")
        {
            await AddUserAsync("carol", "pa55word");
            await AddUserAsync("dave", "pa55word");
        }

        (ParleyProcess server, IPEndPoint endPoint) = await ParleyProcess.StartServeAsync("--data", _data, "--auth", auth);
        await using (server)
        await using (var proxy = new TcpProxy(endPoint))
        {
            await using ParleyProcess chat = ParleyProcess.Start(["chat", "--port", Port(proxy.Port), "--reconnect-attempts", "10", .. login]);
            await chat.WriteInputAsync((auth == "required" ? "pa55word\n" : "") + "/join general\nbefore the outage\n");
            string me = (await chat.WaitForLineAsync(@"^\[#general\] (\S+): before the outage$")).Groups[1].Value;
            await chat.WaitForLineAsync(@"^\* stored #general id \d+$");

            proxy.GoDown();
            await chat.WaitForLineAsync(@"^\* disconnected from 127\.0\.0\.1:\d+");
            await chat.WaitForLineAsync(@"^\* reconnecting to 127\.0\.0\.1:\d+ in 1 s \(attempt 1 of 10\)$");
            await chat.WriteInputAsync("typed while offline\n");
            await chat.WaitForLineAsync(@"^! not sent \(offline, reconnecting to 127\.0\.0\.1:\d+\): typed while offline$");

            // Someone else talks while the client is away; the server keeps it.
            await SayAsync(endPoint.Port, "general", "said during the outage", auth == "required" ? ["--user", "dave"] : []);

            proxy.GoUp();
            string again = (await chat.WaitForLineAsync(@"^\* reconnected to 127\.0\.0\.1:\d+ as (\S+)")).Groups[1].Value;
            if (auth == "required")
            {
                Assert.Equal(me, again); // logged in again with the same account
            }

            await chat.WaitForLineAsync(@"^\* rejoined #general");
            await chat.WaitForLineAsync(@"^\* #general since the connection dropped \(1 message\):$");
            await chat.WaitForLineAsync(@"^\[#general\] \S+: said during the outage$");

            await chat.WriteInputAsync("after the outage\n");
            await chat.WaitForLineAsync(@"^\[#general\] " + Regex.Escape(again) + ": after the outage$");
            chat.CloseInput();
            Assert.Equal(1, await chat.WaitForExitAsync()); // one line was not sent

            Assert.DoesNotMatch(@"(?m)^\[#general\] \S+: typed while offline$", chat.Output);
            Assert.Single(Regex.Matches(chat.Output, @"(?m)^\[#general\] \S+: said during the outage$"));
        }
    }

    [Fact]
    public async Task When_the_server_is_gone_for_good_the_client_refuses_typed_lines_gives_up_and_exits_non_zero()
    {
        (ParleyProcess server, IPEndPoint endPoint) = await ParleyProcess.StartServeAsync("--data", _data);
        await using (server)
        {
            await using ParleyProcess chat = ParleyProcess.Start("chat", "--port", Port(endPoint), "--reconnect-attempts", "2");
            await chat.WriteInputAsync("/join general\nhello\n");
            await chat.WaitForLineAsync(@"^\* stored #general id \d+$");

            server.KillHard();
            await server.WaitForExitAsync();
            await chat.WaitForLineAsync(@"^\* disconnected from 127\.0\.0\.1:\d+");
            await chat.WriteInputAsync("anyone there?\n");
            await chat.WaitForLineAsync(@"^! not sent \(offline, reconnecting to 127\.0\.0\.1:\d+\): anyone there\?$");
            await chat.WaitForLineAsync(@"^\* attempt 2 failed: ");
            await chat.WaitForLineAsync(@"^! gave up: 127\.0\.0\.1:\d+ could not be reached again after 2 attempts; exiting$");

            // Standard input is still open: the client exits anyway, with a failure code.
            Assert.Equal(1, await chat.WaitForExitAsync());
        }
    }

    [Fact]
    public async Task With_no_reconnect_attempts_a_lost_connection_ends_the_client_at_once_with_a_failure_code()
    {
        (ParleyProcess server, IPEndPoint endPoint) = await ParleyProcess.StartServeAsync("--data", _data);
        await using (server)
        {
            await using ParleyProcess chat = ParleyProcess.Start("chat", "--port", Port(endPoint), "--reconnect-attempts", "0");
            await chat.WriteInputAsync("/join general\n");
            await chat.WaitForLineAsync(@"^\* you joined #general");
            server.Terminate();
            Assert.Equal(1, await chat.WaitForExitAsync());
            Assert.Contains("! offline, not reconnecting (--reconnect-attempts 0); exiting", chat.Output);
        }
    }

    [Fact]
    public async Task A_host_name_is_resolved_rather_than_refused()
    {
        // The machine's own name where it resolves to loopback only (so traffic stays on 127.0.0.1), else localhost.
        string name = Dns.GetHostName();
        IPAddress[] addresses = await Dns.GetHostAddressesAsync(name).WaitAsync(ParleyProcess.Timeout);
        if (addresses.Length == 0 || !addresses.All(IPAddress.IsLoopback) || !addresses.Contains(IPAddress.Loopback))
        {
            name = "localhost";
        }

        (ParleyProcess server, IPEndPoint endPoint) = await ParleyProcess.StartServeAsync("--data", _data);
        await using (server)
        {
            foreach (string host in new[] { name, "localhost" }.Distinct())
            {
                await using ParleyProcess chat = ParleyProcess.Start("chat", "--host", host, "--port", Port(endPoint));
                await chat.WriteInputAndCloseAsync("/join general\nby name\n");
                Assert.Equal(0, await chat.WaitForExitAsync());
                Assert.Matches(@"(?m)^\[#general\] user-[0-9a-f]+: by name$", chat.Output);
            }
        }

        await ParleyProcess.AssertRefusesAsync("--host: 'not a host' is neither a host name nor an IP address", "chat", "--host", "not a host");
    }

    [Fact]
    public async Task TLS_checks_the_certificate_against_the_host_name_given_not_the_address_it_resolved_to()
    {
        Directory.CreateDirectory(_data);
        string pfx = Path.Combine(_data, "localhost.pfx");
        await using (ParleyProcess cert = ParleyProcess.Start("cert", "create", "--out", pfx, "--host", "localhost"))
        {
            Assert.Equal(0, await cert.WaitForExitAsync());
        }

        (ParleyProcess server, IPEndPoint endPoint) = await ParleyProcess.StartServeAsync("--data", _data, "--tls-cert", pfx);
        await using (server)
        {
            await using (ParleyProcess byName = ParleyProcess.Start("chat", "--host", "localhost", "--port", Port(endPoint), "--tls", "--tls-ca", pfx))
            {
                await byName.WriteInputAndCloseAsync("/join general\nverified\n");
                Assert.Equal(0, await byName.WaitForExitAsync());
                Assert.Matches(@"(?m)^\[#general\] user-[0-9a-f]+: verified$", byName.Output);
            }

            // The same server and certificate by address: the certificate does not name 127.0.0.1.
            await using ParleyProcess byAddress = ParleyProcess.Start("chat", "--host", "127.0.0.1", "--port", Port(endPoint), "--tls", "--tls-ca", pfx);
            await byAddress.WriteInputAndCloseAsync("");
            Assert.Equal(1, await byAddress.WaitForExitAsync());
            Assert.Contains("cannot connect to 127.0.0.1:" + Port(endPoint) + ": TLS: the server's certificate does not name the host connected to (--host)", byAddress.Output);
        }
    }

    [Fact]
    public async Task User_is_refused_against_an_open_server_which_names_connections_itself()
    {
        (ParleyProcess server, IPEndPoint endPoint) = await ParleyProcess.StartServeAsync("--data", _data);
        await using (server)
        {
            await using ParleyProcess chat = ParleyProcess.Start("chat", "--port", Port(endPoint), "--user", "alice");
            await chat.WriteInputAndCloseAsync("/join general\nwho am I?\n");
            Assert.Equal(2, await chat.WaitForExitAsync());
            Assert.Matches(@"does not use logins \(open mode\): it names each connection itself, and named this one user-[0-9a-f]+, so --user alice cannot be honoured", chat.Output);
            Assert.DoesNotContain("who am I?", chat.Output);
        }
    }

    [Fact]
    public async Task A_piped_client_needs_user_for_a_server_requiring_login()
    {
        (ParleyProcess server, IPEndPoint endPoint) = await ParleyProcess.StartServeAsync("--data", _data, "--auth", "required");
        await using (server)
        {
            await using ParleyProcess chat = ParleyProcess.Start("chat", "--port", Port(endPoint));
            await chat.WriteInputAndCloseAsync("secret\n");
            Assert.Equal(2, await chat.WaitForExitAsync());
            Assert.Contains("requires a login: give --user", chat.Output);
        }
    }
}
