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

/// <summary>Issue 15, item 5: an attacker cannot lock the owner out or take every core with password checks.</summary>
public class LoginAbuseTests
{
    [Fact]
    public async Task Failures_from_one_address_do_not_lock_out_the_same_name_from_another_address()
    {
        await using TcpChat chat = await AliceOverTcpAsync(maxFailedLogins: 3);

        using LineSocket attacker = await LineSocket.ConnectAsync(chat.EndPoint, "127.0.0.1");
        for (int i = 0; i < 3; i++)
        {
            await attacker.SendAsync("""{"_ct":"login","u":"alice","p":"guess"}""");
            Assert.Equal(ErrorCodes.LoginFailed, (await attacker.ReadAsync()).GetProperty("code").GetString());
        }

        // The attacker's address is throttled for alice, even with the right password...
        await attacker.SendAsync("""{"_ct":"login","u":"alice","p":"correct horse"}""");
        Assert.Equal(ErrorCodes.Throttled, (await attacker.ReadAsync()).GetProperty("code").GetString());

        // ...but the owner, from another address, logs in.
        using LineSocket owner = await LineSocket.ConnectAsync(chat.EndPoint, "127.0.0.2");
        await owner.SendAsync("""{"_ct":"login","u":"alice","p":"correct horse"}""");
        Assert.Equal("login_successful", (await owner.ReadAsync()).GetProperty("_et").GetString());
    }

    [Fact]
    public async Task An_address_spraying_names_is_throttled_for_every_name()
    {
        await using TcpChat chat = await AliceOverTcpAsync(maxFailedLogins: 2);

        using LineSocket sprayer = await LineSocket.ConnectAsync(chat.EndPoint, "127.0.0.1");
        for (int i = 0; i < 8; i++)
        {
            await sprayer.SendAsync($$"""{"_ct":"login","u":"user{{i}}","p":"guess"}""");
            Assert.Equal(ErrorCodes.LoginFailed, (await sprayer.ReadAsync()).GetProperty("code").GetString());
        }

        await sprayer.SendAsync("""{"_ct":"login","u":"alice","p":"correct horse"}""");
        Assert.Equal(ErrorCodes.Throttled, (await sprayer.ReadAsync()).GetProperty("code").GetString());
    }

    [Fact]
    public async Task Password_checks_are_bounded_in_concurrency_queue_and_per_address()
    {
        var checks = new PasswordChecks(concurrency: 1, maxQueued: 1, perAddress: 1);
        using var release = new ManualResetEventSlim();
        int running = 0;
        int most = 0;
        bool Blocking()
        {
            int now = Interlocked.Increment(ref running);
            InterlockedMax(ref most, now);
            release.Wait(ChatHarness.Timeout);
            Interlocked.Decrement(ref running);
            return true;
        }

        Task<bool?> first = checks.VerifyAsync("a", Blocking, CancellationToken.None);
        Assert.Null(await checks.VerifyAsync("a", Blocking, CancellationToken.None));         // a's share is taken
        Task<bool?> queued = checks.VerifyAsync("b", Blocking, CancellationToken.None);       // waits its turn
        Assert.Null(await checks.VerifyAsync("c", Blocking, CancellationToken.None));         // the queue is full
        release.Set();
        Assert.True(await first.WaitAsync(ChatHarness.Timeout));
        Assert.True(await queued.WaitAsync(ChatHarness.Timeout));
        Assert.Equal(1, most);
        Assert.True(await checks.VerifyAsync("a", () => true, CancellationToken.None));       // room again
    }

    /// <summary>A login-required chat server over TCP whose users file holds alice.</summary>
    private static Task<TcpChat> AliceOverTcpAsync(int maxFailedLogins)
    {
        string directory = Path.Combine(Path.GetTempPath(), "parley-chat-" + Guid.NewGuid().ToString("N"));
        Assert.True(UserStore.Open(ChatServer.UsersPath(directory)).Add("alice", "correct horse"));
        return TcpChat.StartAsync(o =>
        {
            o.DataDirectory = directory;
            o.Auth = AuthMode.Required;
            o.MaxFailedLogins = maxFailedLogins;
            o.MaxErrorsPerMinute = 100;
        });
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}

/// <summary>A newline-JSON client over TCP from a chosen loopback address.</summary>
internal sealed class LineSocket : IDisposable
{
    private readonly System.Net.Sockets.Socket _socket;
    private readonly StreamReader _reader;
    private readonly System.Net.Sockets.NetworkStream _stream;

    private LineSocket(System.Net.Sockets.Socket socket)
    {
        _socket = socket;
        _stream = new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
        _reader = new StreamReader(_stream, System.Text.Encoding.UTF8);
    }

    public static async Task<LineSocket> ConnectAsync(System.Net.IPEndPoint server, string from)
    {
        var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        socket.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Parse(from), 0));
        await socket.ConnectAsync(server).WaitAsync(ChatHarness.Timeout);
        return new LineSocket(socket);
    }

    public async Task SendAsync(string line) => await _stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(line + "\n"));

    public async Task<JsonElement> ReadAsync() =>
        JsonDocument.Parse((await _reader.ReadLineAsync().WaitAsync(ChatHarness.Timeout)) ?? throw new EndOfStreamException()).RootElement.Clone();

    public void Dispose()
    {
        _reader.Dispose();
        _stream.Dispose();
    }
}
