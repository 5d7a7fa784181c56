using System.Text.Json;

namespace Parley.Chat.Tests;

public class ProtocolTests
{
    private static async Task<(TestClient Client, string User)> LoggedInAsync(ChatHarness harness)
    {
        TestClient client = harness.Connect();
        JsonElement login = await client.ExpectAsync("login_successful");
        return (client, login.GetProperty("u").GetString()!);
    }

    [Fact]
    public async Task An_open_server_greets_each_connection_with_a_generated_user_and_the_room_list()
    {
        await using var harness = ChatHarness.Start();
        TestClient client = harness.Connect();
        JsonElement login = await client.ExpectAsync("login_successful");
        Assert.StartsWith("s-", login.GetProperty("s").GetString());
        Assert.StartsWith("user-", login.GetProperty("u").GetString());
        JsonElement rooms = login.GetProperty("rs");
        Assert.Equal(24, rooms.GetArrayLength());
        Assert.Equal("general", rooms[0].GetProperty("n").GetString());
        Assert.False(string.IsNullOrEmpty(rooms[0].GetProperty("d").GetString()));
    }

    [Fact]
    public async Task Joining_sending_and_leaving_produce_the_events_every_member_expects()
    {
        await using var harness = ChatHarness.Start();
        (TestClient alice, string aliceName) = await LoggedInAsync(harness);
        (TestClient bob, string bobName) = await LoggedInAsync(harness);

        alice.Send("""{"_ct":"join_room","r":"general"}""");
        JsonElement joined = await alice.ExpectAsync("user_joined_room");
        Assert.Equal("general", joined.GetProperty("r").GetString());
        Assert.Equal([aliceName], joined.GetProperty("us").EnumerateArray().Select(u => u.GetString()));
        JsonElement participation = await alice.ExpectAsync("room_participation");
        Assert.Equal(aliceName, participation.GetProperty("u").GetString());
        Assert.Equal("joined", participation.GetProperty("s").GetString());

        bob.Send("""{"_ct":"join_room","r":"general"}""");
        JsonElement bobJoined = await bob.ExpectAsync("user_joined_room");
        Assert.Equal(new[] { aliceName, bobName }.Order(StringComparer.Ordinal), bobJoined.GetProperty("us").EnumerateArray().Select(u => u.GetString()));
        Assert.Equal(bobName, (await alice.ExpectAsync("room_participation")).GetProperty("u").GetString());
        await bob.ExpectAsync("room_participation");

        bob.Send("""{"_ct":"send_message","r":"general","c":"hello, héllo \"quoted\""}""");
        JsonElement atAlice = await alice.ExpectAsync("user_message");
        JsonElement atBob = await bob.ExpectAsync("user_message"); // the sender hears its own message
        JsonElement ack = await bob.ExpectAsync("message_ack");
        foreach (JsonElement message in new[] { atAlice, atBob })
        {
            Assert.Equal("general", message.GetProperty("r").GetString());
            Assert.Equal(bobName, message.GetProperty("u").GetString());
            Assert.Equal("hello, héllo \"quoted\"", message.GetProperty("c").GetString());
            Assert.Equal(ack.GetProperty("id").GetInt64(), message.GetProperty("id").GetInt64());
            Assert.True(message.GetProperty("t").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddMinutes(-1));
        }

        bob.Send("""{"_ct":"leave_room","r":"general"}""");
        JsonElement left = await alice.ExpectAsync("room_participation");
        Assert.Equal(bobName, left.GetProperty("u").GetString());
        Assert.Equal("left", left.GetProperty("s").GetString());
        Assert.Equal("left", (await bob.ExpectAsync("room_participation")).GetProperty("s").GetString());

        // Bob is out: Alice's next message reaches only Alice.
        alice.Send("""{"_ct":"send_message","r":"general","c":"anyone?"}""");
        await alice.ExpectAsync("user_message");
        await alice.ExpectAsync("message_ack");
        bob.Send("""{"_ct":"ping"}""");
        await bob.ExpectAsync("pong");
    }

    [Fact]
    public async Task Messages_from_one_sender_arrive_in_order_with_increasing_ids()
    {
        await using var harness = ChatHarness.Start();
        (TestClient alice, _) = await LoggedInAsync(harness);
        (TestClient bob, _) = await LoggedInAsync(harness);
        alice.Send("""{"_ct":"join_room","r":"dotnet"}""");
        bob.Send("""{"_ct":"join_room","r":"dotnet"}""");
        await bob.WaitForAsync("user_joined_room");
        await alice.WaitForAsync("user_joined_room");
        for (int i = 0; i < 500; i++)
        {
            alice.Send($$"""{"_ct":"send_message","r":"dotnet","c":"m{{i}}"}""");
        }

        long lastId = 0;
        for (int i = 0; i < 500; i++)
        {
            JsonElement message = await bob.WaitForAsync("user_message");
            Assert.Equal($"m{i}", message.GetProperty("c").GetString());
            Assert.True(message.GetProperty("id").GetInt64() > lastId);
            lastId = message.GetProperty("id").GetInt64();
        }
    }

    [Theory]
    [InlineData("""{"_ct":"join_room","r":"nowhere"}""", ErrorCodes.UnknownRoom)]
    [InlineData("""{"_ct":"send_message","r":"general","c":"not joined"}""", ErrorCodes.NotAMember)]
    [InlineData("""{"_ct":"leave_room","r":"general"}""", ErrorCodes.NotAMember)]
    [InlineData("""{"_ct":"send_message","r":"nowhere","c":"x"}""", ErrorCodes.UnknownRoom)]
    [InlineData("""{"_ct":"list_users","r":"nowhere"}""", ErrorCodes.UnknownRoom)]
    [InlineData("""{"_ct":"join_room"}""", ErrorCodes.InvalidArgument)]
    [InlineData("""{"_ct":"join_room","r":42}""", ErrorCodes.InvalidArgument)]
    [InlineData("""{"_ct":"fly_to_the_moon"}""", ErrorCodes.UnknownCommand)]
    [InlineData("""{"r":"general"}""", ErrorCodes.Malformed)]
    [InlineData("""not json at all""", ErrorCodes.Malformed)]
    [InlineData("{\"_ct\":\"join_room\",\"r\":\"general\"", ErrorCodes.Malformed)]
    [InlineData("""[1,2,3]""", ErrorCodes.Malformed)]
    [InlineData("""{"_ct":"login","u":"a","p":"b"}""", ErrorCodes.AlreadyLoggedIn)]
    public async Task A_refused_command_gets_an_error_event_and_the_connection_stays_open(string line, string code)
    {
        await using var harness = ChatHarness.Start();
        (TestClient client, _) = await LoggedInAsync(harness);
        client.Send(line);
        await client.ExpectErrorAndStillOpenAsync(code);
    }

    [Fact]
    public async Task The_error_names_the_refused_command()
    {
        await using var harness = ChatHarness.Start();
        (TestClient client, _) = await LoggedInAsync(harness);
        client.Send("""{"_ct":"join_room","r":"nowhere"}""");
        JsonElement error = await client.ExpectAsync("error");
        Assert.Equal("join_room", error.GetProperty("ct").GetString());
        Assert.Contains("nowhere", error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task Joining_twice_too_long_and_empty_messages_are_refused()
    {
        await using var harness = ChatHarness.Start(o => o.MaxMessageBytes = 100);
        (TestClient client, _) = await LoggedInAsync(harness);
        client.Send("""{"_ct":"join_room","r":"general"}""");
        await client.WaitForAsync("room_participation");
        client.Send("""{"_ct":"join_room","r":"general"}""");
        await client.ExpectErrorAndStillOpenAsync(ErrorCodes.AlreadyMember);
        client.Send(JsonSerializer.Serialize(new Dictionary<string, string> { ["_ct"] = "send_message", ["r"] = "general", ["c"] = new string('é', 51) }));
        await client.ExpectErrorAndStillOpenAsync(ErrorCodes.MessageTooLong); // 102 UTF-8 bytes
        client.Send("""{"_ct":"send_message","r":"general","c":""}""");
        await client.ExpectErrorAndStillOpenAsync(ErrorCodes.EmptyMessage);
        client.Send(JsonSerializer.Serialize(new Dictionary<string, string> { ["_ct"] = "send_message", ["r"] = "general", ["c"] = new string('x', 100) }));
        await client.ExpectAsync("user_message");
    }

    [Fact]
    public async Task A_session_may_join_only_as_many_rooms_as_allowed()
    {
        await using var harness = ChatHarness.Start(o => o.MaxRoomsPerSession = 2);
        (TestClient client, _) = await LoggedInAsync(harness);
        foreach (string room in new[] { "general", "random" })
        {
            client.Send($$"""{"_ct":"join_room","r":"{{room}}"}""");
            await client.WaitForAsync("room_participation");
        }

        client.Send("""{"_ct":"join_room","r":"help"}""");
        await client.ExpectErrorAndStillOpenAsync(ErrorCodes.TooManyRooms);
    }

    [Fact]
    public async Task Repeated_violations_past_the_limit_close_the_connection_with_a_reason()
    {
        await using var harness = ChatHarness.Start(o => o.MaxErrorsPerMinute = 3);
        (TestClient bad, _) = await LoggedInAsync(harness);
        (TestClient good, _) = await LoggedInAsync(harness);
        for (int i = 0; i < 4; i++)
        {
            bad.Send("garbage");
        }

        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(ErrorCodes.Malformed, (await bad.ExpectAsync("error")).GetProperty("code").GetString());
        }

        Assert.Equal(ErrorCodes.TooManyErrors, (await bad.ExpectAsync("error")).GetProperty("code").GetString());
        await bad.ClosedAsync();
        Assert.Equal(CloseReason.ProtocolError, bad.ServerSide.CloseReason);
        good.Send("""{"_ct":"ping"}""");
        await good.ExpectAsync("pong");
    }

    [Fact]
    public async Task List_rooms_list_users_and_ping_answer()
    {
        await using var harness = ChatHarness.Start(o => o.Rooms = [new("a", "Room A"), new("b", "Room B")]);
        (TestClient client, string user) = await LoggedInAsync(harness);
        client.Send("""{"_ct":"join_room","r":"b"}""");
        await client.WaitForAsync("room_participation");
        client.Send("""{"_ct":"list_rooms"}""");
        JsonElement rooms = await client.ExpectAsync("rooms");
        Assert.Equal(["a", "b"], rooms.GetProperty("rs").EnumerateArray().Select(r => r.GetProperty("n").GetString()));
        Assert.Equal([0, 1], rooms.GetProperty("rs").EnumerateArray().Select(r => r.GetProperty("m").GetInt32()));
        client.Send("""{"_ct":"list_users","r":"b"}""");
        JsonElement users = await client.ExpectAsync("room_users");
        Assert.Equal([user], users.GetProperty("us").EnumerateArray().Select(u => u.GetString()));
        client.Send("""{"_ct":"ping","extra":{"nested":[1,2]}}""");
        await client.ExpectAsync("pong");
    }

    [Fact]
    public async Task History_pages_backwards_from_before_and_survives_a_restart()
    {
        string directory;
        var ids = new List<long>();
        await using (var harness = ChatHarness.Start())
        {
            directory = harness.Directory;
            (TestClient client, _) = await LoggedInAsync(harness);
            client.Send("""{"_ct":"join_room","r":"general"}""");
            await client.WaitForAsync("room_participation");
            for (int i = 0; i < 30; i++)
            {
                client.Send($$"""{"_ct":"send_message","r":"general","c":"m{{i}}"}""");
                ids.Add((await client.WaitForAsync("message_ack")).GetProperty("id").GetInt64());
            }

            await harness.StopServerAsync();
            await using var restarted = ChatHarness.Start(directory: directory);
            (TestClient later, _) = await LoggedInAsync(restarted);
            later.Send("""{"_ct":"history","r":"general","limit":10}""");
            JsonElement page = await later.ExpectAsync("history");
            Assert.Equal(Enumerable.Range(20, 10).Select(i => $"m{i}"), page.GetProperty("ms").EnumerateArray().Select(m => m.GetProperty("c").GetString()));
            Assert.True(page.GetProperty("more").GetBoolean());
            long oldest = page.GetProperty("ms")[0].GetProperty("id").GetInt64();
            Assert.Equal(ids[20], oldest);

            later.Send($$"""{"_ct":"history","r":"general","before":{{oldest}},"limit":25}""");
            JsonElement older = await later.ExpectAsync("history");
            Assert.Equal(Enumerable.Range(0, 20).Select(i => $"m{i}"), older.GetProperty("ms").EnumerateArray().Select(m => m.GetProperty("c").GetString()));
            Assert.False(older.GetProperty("more").GetBoolean());

            // New ids continue after the old ones.
            later.Send("""{"_ct":"join_room","r":"general"}""");
            await later.WaitForAsync("room_participation");
            later.Send("""{"_ct":"send_message","r":"general","c":"after restart"}""");
            Assert.True((await later.WaitForAsync("message_ack")).GetProperty("id").GetInt64() > ids[^1]);
        }
    }

    [Fact]
    public async Task Quit_closes_the_connection_and_the_user_leaves_its_rooms()
    {
        await using var harness = ChatHarness.Start();
        (TestClient stay, _) = await LoggedInAsync(harness);
        (TestClient go, string goName) = await LoggedInAsync(harness);
        stay.Send("""{"_ct":"join_room","r":"general"}""");
        await stay.WaitForAsync("room_participation");
        go.Send("""{"_ct":"join_room","r":"general"}""");
        await stay.WaitForAsync("room_participation");
        go.Send("""{"_ct":"quit"}""");
        await go.ClosedAsync();
        JsonElement left = await stay.ExpectAsync("room_participation");
        Assert.Equal(goName, left.GetProperty("u").GetString());
        Assert.Equal("left", left.GetProperty("s").GetString());
    }
}
