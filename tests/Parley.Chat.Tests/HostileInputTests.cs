using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Parley.Tests;

namespace Parley.Chat.Tests;

/// <summary>Issue 15, items 1 and 2: bad bytes and replies that would outgrow the line limit.</summary>
public class HostileInputTests
{
    private static async Task<(TestClient Client, string User)> LoggedInAsync(ChatHarness harness)
    {
        TestClient client = harness.Connect();
        JsonElement login = await client.ExpectAsync("login_successful");
        return (client, login.GetProperty("u").GetString()!);
    }

    [Theory]
    [InlineData(new byte[] { (byte)'{', (byte)'"', (byte)'_', (byte)'c', (byte)'t', (byte)'"', (byte)':', (byte)'"', 0xFF, (byte)'"', (byte)'}', (byte)'\n' })]
    [InlineData(new byte[] { (byte)'{', (byte)'"', 0xC3, (byte)'"', (byte)':', (byte)'1', (byte)'}', (byte)'\n' })]
    public async Task Invalid_UTF8_over_TCP_gets_a_malformed_error_keeps_the_connection_and_logs_no_failure(byte[] line)
    {
        var logs = new CapturingLoggerFactory();
        string directory = Path.Combine(Path.GetTempPath(), "parley-chat-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using ChatServer chat = ChatServer.Open(new ChatServerOptions { DataDirectory = directory, LoggerFactory = logs });
            await using var server = new ParleyServer(new ParleyServerOptions
            {
                EndPoint = new IPEndPoint(IPAddress.Loopback, 0),
                Framer = chat.Framer,
                IdleTimeout = Timeout.InfiniteTimeSpan,
                LoggerFactory = logs,
            });
            server.Start((connection, closed) => chat.RunSessionAsync(connection, closed));

            using var tcp = new TcpClient();
            await tcp.ConnectAsync((IPEndPoint)server.LocalEndPoint!).WaitAsync(ChatHarness.Timeout);
            using NetworkStream stream = tcp.GetStream();
            using var reader = new StreamReader(stream, Encoding.UTF8);
            async Task<JsonElement> ReadAsync() => JsonDocument.Parse((await reader.ReadLineAsync().WaitAsync(ChatHarness.Timeout))!).RootElement.Clone();

            Assert.Equal("login_successful", (await ReadAsync()).GetProperty("_et").GetString());
            for (int i = 0; i < 3; i++)
            {
                await stream.WriteAsync(line);
                JsonElement error = await ReadAsync();
                Assert.Equal("error", error.GetProperty("_et").GetString());
                Assert.Equal(ErrorCodes.Malformed, error.GetProperty("code").GetString());
            }

            await stream.WriteAsync("{\"_ct\":\"ping\"}\n"u8.ToArray());
            Assert.Equal("pong", (await ReadAsync()).GetProperty("_et").GetString());

            Assert.DoesNotContain(logs.Entries, e => e.Level >= LogLevel.Warning);
            Assert.Single(logs.Entries, e => e.EventId == 607); // once per connection, at debug
            Assert.Equal(LogLevel.Debug, logs.Entries.Single(e => e.EventId == 607).Level);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory]
    [InlineData("""{"_ct":"join_room","r":"\ud800"}""")]
    [InlineData("""{"_ct":"send_message","r":"general","c":"a\udfffb"}""")]
    [InlineData("""{"\ud800":1,"_ct":"ping"}""")]
    public async Task An_escaped_half_surrogate_pair_is_a_malformed_error_not_a_closed_connection(string line)
    {
        await using var harness = ChatHarness.Start();
        (TestClient client, _) = await LoggedInAsync(harness);
        client.Send(line);
        await client.ExpectErrorAndStillOpenAsync(ErrorCodes.Malformed);
    }

    [Fact]
    public async Task Bad_input_logs_are_rate_limited_across_sessions()
    {
        var logs = new CapturingLoggerFactory();
        var time = new ManualTime();
        await using var harness = ChatHarness.Start(o => { o.LoggerFactory = logs; o.TimeProvider = time; });
        var clients = new List<TestClient>();
        for (int i = 0; i < 60; i++)
        {
            (TestClient client, _) = await LoggedInAsync(harness);
            client.Send("not json");
            await client.ExpectAsync("error");
            clients.Add(client);
        }

        // 60 sessions each logged once would be 60 lines; the server-wide budget lets 20 through.
        Assert.Equal(20, logs.Entries.Count(e => e.EventId == 607));

        time.Advance(TimeSpan.FromSeconds(1));
        (TestClient late, _) = await LoggedInAsync(harness);
        late.Send("not json");
        await late.ExpectAsync("error");
        (LogLevel _, int _, string message) = logs.Entries.Last(e => e.EventId == 607);
        Assert.Contains("(40 lines from all sessions held back", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task History_of_big_messages_fits_one_reply_and_the_connection_stays_open()
    {
        await using var harness = ChatHarness.Start();
        (TestClient client, _) = await LoggedInAsync(harness);
        client.Send("""{"_ct":"join_room","r":"general"}""");
        await client.WaitForAsync("room_participation");
        string big = new('x', 4096);
        for (int i = 0; i < 7; i++)
        {
            client.Send(JsonSerializer.Serialize(new Dictionary<string, string> { ["_ct"] = "send_message", ["r"] = "general", ["c"] = big }));
            await client.WaitForAsync("message_ack");
        }

        client.Send("""{"_ct":"history","r":"general"}""");
        JsonElement history = await client.WaitForAsync("history");
        Assert.Equal(7, history.GetProperty("ms").GetArrayLength());
        Assert.False(history.GetProperty("more").GetBoolean());
        client.Send("""{"_ct":"ping"}""");
        await client.ExpectAsync("pong");
    }

    [Fact]
    public async Task History_pages_by_bytes_and_paging_with_before_returns_every_message_once()
    {
        // 40 messages of ~8 KiB must all stay in memory: a budget above the default (128 KiB).
        await using var harness = ChatHarness.Start(o => { o.MaxEventBytes = 64 * 1024; o.HistoryBytesPerRoom = 512 * 1024; });
        (TestClient client, _) = await LoggedInAsync(harness);
        client.Send("""{"_ct":"join_room","r":"general"}""");
        await client.WaitForAsync("room_participation");
        var sent = new List<long>(); // ~8 KiB each in an event: several 64 KiB pages
        for (int i = 0; i < 40; i++)
        {
            // Escaped quotes: each message costs about 2 × 4 KiB in an event, so 40 need several pages.
            string content = i.ToString("D4", System.Globalization.CultureInfo.InvariantCulture) + new string('"', 4000);
            client.Send(JsonSerializer.Serialize(new Dictionary<string, string> { ["_ct"] = "send_message", ["r"] = "general", ["c"] = content }));
            sent.Add((await client.WaitForAsync("message_ack")).GetProperty("id").GetInt64());
        }

        var seen = new List<long>();
        long before = long.MaxValue;
        int pages = 0;
        while (true)
        {
            client.Send($$"""{"_ct":"history","r":"general","limit":200,"before":{{before}}}""");
            JsonElement page = await client.WaitForAsync("history");
            pages++;
            long[] ids = [.. page.GetProperty("ms").EnumerateArray().Select(m => m.GetProperty("id").GetInt64())];
            Assert.NotEmpty(ids);
            seen.InsertRange(0, ids);
            if (!page.GetProperty("more").GetBoolean())
            {
                break;
            }

            before = ids[0];
        }

        Assert.True(pages > 1, $"expected several pages, got {pages}");
        Assert.Equal(sent, seen);
    }

    // Each 4096-byte message takes ~4.2 KB in an event: a budget of 3 × 4096 + 500 holds the newest three.
    [Theory]
    [InlineData(3 * 4096 + 500, 64L * 1024 * 1024)] // the room's own budget
    [InlineData(512 * 1024, 24 * (3 * 4096 + 500))] // an equal share of the server's budget (24 built-in rooms)
    public async Task History_kept_in_memory_is_bounded_by_bytes_and_keeps_the_newest(long perRoom, long total)
    {
        await using var harness = ChatHarness.Start(o => { o.HistoryBytesPerRoom = perRoom; o.MaxHistoryBytes = total; });
        (TestClient client, _) = await LoggedInAsync(harness);
        client.Send("""{"_ct":"join_room","r":"general"}""");
        await client.WaitForAsync("room_participation");
        var sent = new List<long>();
        for (int i = 0; i < 10; i++)
        {
            client.Send(JsonSerializer.Serialize(new Dictionary<string, string> { ["_ct"] = "send_message", ["r"] = "general", ["c"] = new string((char)('a' + i), 4096) }));
            sent.Add((await client.WaitForAsync("message_ack")).GetProperty("id").GetInt64());
        }

        client.Send("""{"_ct":"history","r":"general","limit":200}""");
        JsonElement history = await client.WaitForAsync("history");
        long[] kept = [.. history.GetProperty("ms").EnumerateArray().Select(m => m.GetProperty("id").GetInt64())];
        Assert.Equal(sent[^3..], kept);

        // The older seven left memory, not the server: they come from the journal.
        Assert.True(history.GetProperty("more").GetBoolean());
        client.Send($$"""{"_ct":"history","r":"general","before":{{kept[0]}},"limit":200}""");
        JsonElement older = await client.WaitForAsync("history");
        Assert.Equal(sent[..7], older.GetProperty("ms").EnumerateArray().Select(m => m.GetProperty("id").GetInt64()));
        Assert.False(older.GetProperty("more").GetBoolean());
    }

    [Fact]
    public async Task A_message_larger_than_the_history_budget_is_still_kept_as_the_newest()
    {
        await using var harness = ChatHarness.Start(o => o.HistoryBytesPerRoom = 1000);
        (TestClient client, _) = await LoggedInAsync(harness);
        client.Send("""{"_ct":"join_room","r":"general"}""");
        await client.WaitForAsync("room_participation");
        client.Send("""{"_ct":"send_message","r":"general","c":"small"}""");
        await client.WaitForAsync("message_ack");
        client.Send(JsonSerializer.Serialize(new Dictionary<string, string> { ["_ct"] = "send_message", ["r"] = "general", ["c"] = new string('x', 4096) }));
        long big = (await client.WaitForAsync("message_ack")).GetProperty("id").GetInt64();

        client.Send("""{"_ct":"history","r":"general"}""");
        JsonElement history = await client.WaitForAsync("history");
        JsonElement only = Assert.Single(history.GetProperty("ms").EnumerateArray());
        Assert.Equal(big, only.GetProperty("id").GetInt64());
    }

    [Fact]
    public void A_member_list_is_cut_to_fit_the_event_limit_and_pages_from_any_start_cover_it_all()
    {
        // Names of up to 32 characters, some needing escapes and multi-byte UTF-8.
        string[] names = [.. Enumerable.Range(0, 20_000).Select(i => i % 7 == 0 ? $"ü-{i:D6}-ÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿ" : $"user-{i:D8}").Order(StringComparer.Ordinal)];
        const int Limit = 64 * 1024;
        var listed = new List<string>();
        int start = 0;
        int pages = 0;
        while (true)
        {
            byte[] line = Events.RoomUsers("general", names, start, Limit).ToArray();
            Assert.InRange(line.Length, 1, Limit);
            pages++;
            using JsonDocument page = JsonDocument.Parse(line);
            string[] users = [.. page.RootElement.GetProperty("us").EnumerateArray().Select(u => u.GetString()!)];
            Assert.NotEmpty(users);
            Assert.Equal(names.Length, page.RootElement.GetProperty("n").GetInt32());
            listed.AddRange(users);
            start += users.Length;
            if (!page.RootElement.GetProperty("more").GetBoolean())
            {
                break;
            }
        }

        Assert.True(pages > 3, $"{pages} pages");
        Assert.Equal(names, listed);
    }

    [Fact]
    public async Task Join_reports_the_member_count_and_list_users_pages_after_a_name()
    {
        await using var harness = ChatHarness.Start();
        var users = new List<string>();
        for (int i = 0; i < 60; i++)
        {
            (TestClient member, string user) = await LoggedInAsync(harness);
            member.Send("""{"_ct":"join_room","r":"general"}""");
            await member.ExpectAsync("user_joined_room");
            users.Add(user);
        }

        (TestClient late, string lateUser) = await LoggedInAsync(harness);
        users.Add(lateUser);
        users.Sort(StringComparer.Ordinal);
        late.Send("""{"_ct":"join_room","r":"general"}""");
        JsonElement joined = await late.ExpectAsync("user_joined_room");
        Assert.False(joined.GetProperty("more").GetBoolean());
        Assert.Equal(61, joined.GetProperty("n").GetInt32());
        Assert.Equal(users, joined.GetProperty("us").EnumerateArray().Select(u => u.GetString()));

        late.Send($$"""{"_ct":"list_users","r":"general","after":"{{users[29]}}"}""");
        JsonElement page = await late.WaitForAsync("room_users");
        Assert.Equal(users.Skip(30), page.GetProperty("us").EnumerateArray().Select(u => u.GetString()));
        Assert.False(page.GetProperty("more").GetBoolean());
    }

    [Fact]
    public async Task Ten_thousand_rooms_are_cut_to_fit_the_login_reply_and_list_rooms_pages_through_them_all()
    {
        var rooms = Enumerable.Range(0, 10_000).Select(i => new RoomDefinition($"room-{i}", $"Room number {i}, for talking about topic {i}")).ToArray();
        await using var harness = ChatHarness.Start(o => o.Rooms = rooms);
        TestClient client = harness.Connect();
        JsonElement login = await client.ExpectAsync("login_successful");
        Assert.True(login.GetProperty("more").GetBoolean());
        Assert.Equal(10_000, login.GetProperty("n").GetInt32());
        Assert.InRange(login.GetProperty("rs").GetArrayLength(), 1000, 9_999);

        var listed = new List<string>();
        string? after = null;
        while (true)
        {
            client.Send(after is null ? """{"_ct":"list_rooms"}""" : $$"""{"_ct":"list_rooms","after":"{{after}}"}""");
            JsonElement page = await client.ExpectAsync("rooms");
            listed.AddRange(page.GetProperty("rs").EnumerateArray().Select(r => r.GetProperty("n").GetString()!));
            if (!page.GetProperty("more").GetBoolean())
            {
                break;
            }

            after = listed[^1];
        }

        Assert.Equal(rooms.Select(r => r.Name), listed);
    }

    [Fact]
    public void A_room_description_longer_than_the_limit_is_refused_with_the_reason()
    {
        var rooms = new[] { new RoomDefinition("long", new string('d', ChatLimits.MaxDescriptionLength + 1)) };
        string directory = Path.Combine(Path.GetTempPath(), "parley-chat-" + Guid.NewGuid().ToString("N"));
        var error = Assert.Throws<ArgumentException>(() => ChatServer.Open(new ChatServerOptions { DataDirectory = directory, Rooms = rooms }));
        Assert.Contains("longer than 1024 characters", error.Message, StringComparison.Ordinal);
    }
}

public class PooledEventBufferTests
{
    [Fact]
    public void A_large_event_is_written_whole_and_the_next_small_one_starts_clean()
    {
        // A 20 000-name member list (a few hundred KiB: a pooled large buffer), then a pong on the same thread.
        string[] names = [.. Enumerable.Range(0, 20_000).Select(i => $"user-{i:D8}")];
        byte[] large = Events.RoomUsers("general", names, 0, 8 * 1024 * 1024).ToArray();
        using (JsonDocument document = JsonDocument.Parse(large))
        {
            Assert.Equal(names, document.RootElement.GetProperty("us").EnumerateArray().Select(u => u.GetString()));
        }

        Assert.Equal("{\"_et\":\"pong\"}", System.Text.Encoding.UTF8.GetString(Events.Pong()));
        byte[] again = Events.RoomUsers("general", names, 0, 8 * 1024 * 1024).ToArray();
        Assert.Equal(large, again);
    }
}
