using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Parley.Tests;

namespace Parley.Chat.Tests;

/// <summary>Issue 15, item 4: silent connections do not keep their slots, and a full server says so.</summary>
public class SlotTests
{
    [Fact]
    public async Task An_open_session_that_never_sends_a_command_is_told_and_closed_at_the_login_timeout()
    {
        var time = new ManualTime();
        await using var harness = ChatHarness.Start(o => { o.TimeProvider = time; o.LoginTimeout = TimeSpan.FromSeconds(30); });
        TestClient silent = harness.Connect();
        TestClient talking = harness.Connect();
        await silent.ExpectAsync("login_successful");
        await talking.ExpectAsync("login_successful");
        talking.Send("""{"_ct":"list_rooms"}""");
        await talking.ExpectAsync("rooms");

        time.Advance(TimeSpan.FromSeconds(31));
        JsonElement error = await silent.ExpectAsync("error");
        Assert.Equal(ErrorCodes.LoginTimeout, error.GetProperty("code").GetString());
        await silent.ClosedAsync();

        talking.Send("""{"_ct":"ping"}""");
        await talking.ExpectAsync("pong");
    }

    [Fact]
    public async Task A_session_that_pings_but_never_logs_in_is_closed_at_the_login_timeout()
    {
        var time = new ManualTime();
        await using var harness = ChatHarness.Start(o => { o.TimeProvider = time; o.Auth = AuthMode.Required; });
        TestClient client = harness.Connect();
        client.Send("""{"_ct":"ping"}""");
        await client.ExpectAsync("pong");
        time.Advance(TimeSpan.FromSeconds(31));
        JsonElement error = await client.ExpectAsync("error");
        Assert.Equal(ErrorCodes.LoginTimeout, error.GetProperty("code").GetString());
        await client.ClosedAsync();
    }

    [Fact]
    public async Task A_full_server_sends_server_full_before_closing_a_newcomer()
    {
        await using var server = await TcpChat.StartAsync(network: o =>
        {
            o.MaxConnections = 1;
            o.RefusalMessage = ChatServer.RefusalEvent;
        });
        using var first = new TcpClient();
        await first.ConnectAsync(server.EndPoint).WaitAsync(ChatHarness.Timeout);
        using var firstReader = new StreamReader(first.GetStream(), Encoding.UTF8);
        Assert.Contains("login_successful", await firstReader.ReadLineAsync().WaitAsync(ChatHarness.Timeout), StringComparison.Ordinal);

        using var second = new TcpClient();
        await second.ConnectAsync(server.EndPoint).WaitAsync(ChatHarness.Timeout);
        using var reader = new StreamReader(second.GetStream(), Encoding.UTF8);
        JsonElement error = JsonDocument.Parse((await reader.ReadLineAsync().WaitAsync(ChatHarness.Timeout))!).RootElement;
        Assert.Equal("error", error.GetProperty("_et").GetString());
        Assert.Equal(ErrorCodes.ServerFull, error.GetProperty("code").GetString());
        Assert.Null(await reader.ReadLineAsync().WaitAsync(ChatHarness.Timeout));
    }
}
