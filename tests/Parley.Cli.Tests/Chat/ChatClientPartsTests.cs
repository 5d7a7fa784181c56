using System.Net;
using Parley.Cli.Chat;

namespace Parley.Cli.Tests.Chat;

public sealed class ChatClientPartsTests
{
    [Theory]
    [InlineData("localhost", "localhost", false)]
    [InlineData("chat.example.org", "chat.example.org", false)]
    [InlineData("127.0.0.1", "127.0.0.1", true)]
    [InlineData("::1", "::1", true)]
    [InlineData("[::1]", "::1", true)]
    public void Host_is_kept_as_given_a_name_resolved_at_connect_and_TLS_checks_that_name(string host, string kept, bool literal)
    {
        Assert.True(ChatServerAddress.TryParse(host, 8080, out ChatServerAddress? address, out _));
        Assert.Equal(kept, address.Host);
        Assert.Equal(kept, address.TlsTargetHost);
        if (literal)
        {
            Assert.Equal(new IPEndPoint(IPAddress.Parse(kept), 8080), address.EndPoint);
        }
        else
        {
            Assert.Equal(new DnsEndPoint(kept, 8080), address.EndPoint);
        }

        ParleyClientOptions options = ChatClientCommand.CreateClientOptions(address, ipc: null, tls: true, insecure: false, trust: null);
        Assert.Equal(address.EndPoint, options.RemoteEndPoint);
        Assert.Equal(kept, options.Tls!.TargetHost);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not a host")]
    [InlineData("host:8080")]
    public void A_host_that_is_neither_a_name_nor_an_address_is_refused(string host)
    {
        Assert.False(ChatServerAddress.TryParse(host, 8080, out _, out string? error));
        Assert.StartsWith("--host:", error);
    }

    [Fact]
    public void Reconnect_attempts_back_off_from_one_second_doubling_to_sixteen()
    {
        Assert.Equal(
            [1, 2, 4, 8, 16, 16, 16],
            Enumerable.Range(1, 7).Select(a => ReconnectSchedule.DelayBefore(a).TotalSeconds));
        Assert.Equal(TimeSpan.FromSeconds(16), ReconnectSchedule.DelayBefore(ReconnectSchedule.MaxAttempts));
    }

    private static (long, string)[] Page(params long[] ids) => [.. ids.Select(id => (id, $"m{id}"))];

    [Fact]
    public void A_catch_up_merges_history_pages_and_live_messages_in_id_order_once_each()
    {
        var catchUp = new RoomCatchUp("general", lastSeen: 10);
        Assert.True(catchUp.AddLive(40, "m40"));
        Assert.True(catchUp.AddLive(41, "m41"));
        Assert.Equal(20, catchUp.AddPage(Page(20, 30, 40), more: true)); // newest page; older ones may be missed too
        Assert.Null(catchUp.AddPage(Page(5, 10, 15), more: true)); // reaches what was seen
        Assert.Equal(["m15", "m20", "m30", "m40", "m41"], catchUp.Lines);
        Assert.Equal(41, catchUp.NewestId);
        Assert.False(catchUp.Truncated);
    }

    [Fact]
    public void A_catch_up_stops_after_its_page_limit_and_says_so()
    {
        var catchUp = new RoomCatchUp("general", lastSeen: 0);
        long before = 100_000;
        for (int page = 1; page < RoomCatchUp.MaxPages; page++)
        {
            before = catchUp.AddPage(Page(before - 2, before - 1), more: true)!.Value;
        }

        Assert.Null(catchUp.AddPage(Page(before - 2, before - 1), more: true));
        Assert.True(catchUp.Truncated);
        Assert.Equal(2 * RoomCatchUp.MaxPages, catchUp.Lines.Count);
    }

    [Fact]
    public void A_room_with_nothing_new_is_caught_up_after_one_page()
    {
        var catchUp = new RoomCatchUp("general", lastSeen: 7);
        Assert.Null(catchUp.AddPage(Page(3, 7), more: true));
        Assert.Empty(catchUp.Lines);
        Assert.Equal(7, catchUp.NewestId);
    }
}
