using System.Text.Json;

namespace Parley.Chat.Tests;

public class AuthTests
{
    private static ChatHarness RequiredAuth(Action<ChatServerOptions>? configure = null)
    {
        string directory = Path.Combine(Path.GetTempPath(), "parley-chat-" + Guid.NewGuid().ToString("N"));
        UserStore users = UserStore.Open(ChatServer.UsersPath(directory));
        Assert.True(users.Add("alice", "correct horse"));
        Assert.True(users.Add("bob", "battery staple"));
        return ChatHarness.Start(o =>
        {
            o.Auth = AuthMode.Required;
            configure?.Invoke(o);
        }, directory);
    }

    [Fact]
    public async Task Commands_before_login_are_refused_and_a_correct_login_succeeds()
    {
        await using ChatHarness harness = RequiredAuth();
        TestClient client = harness.Connect();
        client.Send("""{"_ct":"join_room","r":"general"}""");
        await client.ExpectErrorAndStillOpenAsync(ErrorCodes.NotLoggedIn);
        client.Send("""{"_ct":"login","u":"alice","p":"correct horse"}""");
        JsonElement login = await client.ExpectAsync("login_successful");
        Assert.Equal("alice", login.GetProperty("u").GetString());
        client.Send("""{"_ct":"join_room","r":"general"}""");
        await client.ExpectAsync("user_joined_room");
    }

    [Fact]
    public async Task A_wrong_password_or_unknown_user_fails_and_the_session_may_try_again()
    {
        await using ChatHarness harness = RequiredAuth();
        TestClient client = harness.Connect();
        client.Send("""{"_ct":"login","u":"alice","p":"wrong"}""");
        await client.ExpectErrorAndStillOpenAsync(ErrorCodes.LoginFailed);
        client.Send("""{"_ct":"login","u":"mallory","p":"anything"}""");
        await client.ExpectErrorAndStillOpenAsync(ErrorCodes.LoginFailed);
        client.Send("""{"_ct":"login","u":"alice","p":"correct horse"}""");
        await client.ExpectAsync("login_successful");
    }

    [Fact]
    public async Task Repeated_failures_throttle_that_name_even_with_the_right_password_but_not_other_names()
    {
        await using ChatHarness harness = RequiredAuth(o =>
        {
            o.MaxFailedLogins = 3;
            o.MaxErrorsPerMinute = 100;
        });
        TestClient attacker = harness.Connect();
        for (int i = 0; i < 3; i++)
        {
            attacker.Send("""{"_ct":"login","u":"alice","p":"guess"}""");
            Assert.Equal(ErrorCodes.LoginFailed, (await attacker.ExpectAsync("error")).GetProperty("code").GetString());
        }

        TestClient owner = harness.Connect();
        owner.Send("""{"_ct":"login","u":"alice","p":"correct horse"}""");
        await owner.ExpectErrorAndStillOpenAsync(ErrorCodes.Throttled);
        owner.Send("""{"_ct":"login","u":"bob","p":"battery staple"}""");
        await owner.ExpectAsync("login_successful");
    }

    [Fact]
    public async Task Two_sessions_of_one_user_join_once_and_leave_when_the_last_one_leaves()
    {
        await using ChatHarness harness = RequiredAuth();
        TestClient watcher = harness.Connect();
        watcher.Send("""{"_ct":"login","u":"bob","p":"battery staple"}""");
        await watcher.ExpectAsync("login_successful");
        watcher.Send("""{"_ct":"join_room","r":"general"}""");
        await watcher.WaitForAsync("room_participation");

        TestClient phone = harness.Connect();
        TestClient laptop = harness.Connect();
        foreach (TestClient session in new[] { phone, laptop })
        {
            session.Send("""{"_ct":"login","u":"alice","p":"correct horse"}""");
            await session.ExpectAsync("login_successful");
        }

        phone.Send("""{"_ct":"join_room","r":"general"}""");
        Assert.Equal("alice", (await watcher.ExpectAsync("room_participation")).GetProperty("u").GetString());
        laptop.Send("""{"_ct":"join_room","r":"general"}""");
        await laptop.ExpectAsync("user_joined_room");

        // A message reaches both of alice's sessions; bob saw alice join only once.
        watcher.Send("""{"_ct":"send_message","r":"general","c":"hi alice"}""");
        await watcher.ExpectAsync("user_message");
        await watcher.ExpectAsync("message_ack");
        await phone.WaitForAsync("user_message");
        await laptop.WaitForAsync("user_message");

        phone.Send("""{"_ct":"leave_room","r":"general"}""");
        await phone.WaitForAsync("room_participation");
        laptop.Send("""{"_ct":"leave_room","r":"general"}""");
        await laptop.WaitForAsync("room_participation");
        watcher.Send("""{"_ct":"ping"}""");
        var seen = new List<JsonElement>();
        for (JsonElement next = await watcher.NextAsync(); next.GetProperty("_et").GetString() != "pong"; next = await watcher.NextAsync())
        {
            seen.Add(next);
        }

        JsonElement left = Assert.Single(seen); // one "left", when the last session left
        Assert.Equal("room_participation", left.GetProperty("_et").GetString());
        Assert.Equal("alice", left.GetProperty("u").GetString());
        Assert.Equal("left", left.GetProperty("s").GetString());
    }

    [Fact]
    public async Task A_user_holds_at_most_the_allowed_number_of_sessions()
    {
        await using ChatHarness harness = RequiredAuth(o => o.MaxSessionsPerUser = 1);
        TestClient first = harness.Connect();
        first.Send("""{"_ct":"login","u":"alice","p":"correct horse"}""");
        await first.ExpectAsync("login_successful");
        TestClient second = harness.Connect();
        second.Send("""{"_ct":"login","u":"alice","p":"correct horse"}""");
        await second.ExpectErrorAndStillOpenAsync(ErrorCodes.TooManySessions);
    }

    [Fact]
    public void Passwords_are_stored_salted_and_hashed_never_in_clear()
    {
        string directory = Path.Combine(Path.GetTempPath(), "parley-users-" + Guid.NewGuid().ToString("N"));
        try
        {
            string path = ChatServer.UsersPath(directory);
            UserStore store = UserStore.Open(path);
            Assert.True(store.Add("carol", "s3cret-password"));
            Assert.True(store.Add("dave", "s3cret-password"));
            Assert.False(store.Add("carol", "other"));
            string text = File.ReadAllText(path);
            Assert.DoesNotContain("s3cret-password", text);
            using JsonDocument file = JsonDocument.Parse(text);
            JsonElement[] users = [.. file.RootElement.GetProperty("users").EnumerateArray()];
            Assert.NotEqual(users[0].GetProperty("salt").GetString(), users[1].GetProperty("salt").GetString());
            Assert.NotEqual(users[0].GetProperty("hash").GetString(), users[1].GetProperty("hash").GetString());
            Assert.True(UserStore.Open(path).Verify("carol", "s3cret-password"));
            Assert.False(UserStore.Open(path).Verify("carol", "S3cret-password"));
            Assert.True(store.Remove("carol"));
            Assert.Equal(["dave"], UserStore.Open(path).Names);
            Assert.Throws<ArgumentException>(() => store.Add("bad name", "x"));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
