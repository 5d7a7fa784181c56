using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace Parley.Chat.Tests;

/// <summary>A chat server over in-memory connections, with a fresh data folder.</summary>
internal sealed class ChatHarness : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly List<Task> _sessions = [];
    private readonly List<TestClient> _clients = [];
    private readonly bool _ownsDirectory;

    private ChatHarness(ChatServer server, string directory, bool ownsDirectory)
    {
        Server = server;
        Directory = directory;
        _ownsDirectory = ownsDirectory;
    }

    public ChatServer Server { get; }

    public string Directory { get; }

    public static ChatHarness Start(Action<ChatServerOptions>? configure = null, string? directory = null)
    {
        bool owns = directory is null;
        directory ??= Path.Combine(Path.GetTempPath(), "parley-chat-" + Guid.NewGuid().ToString("N"));
        var options = new ChatServerOptions { DataDirectory = directory };
        configure?.Invoke(options);
        return new ChatHarness(ChatServer.Open(options), directory, owns);
    }

    /// <summary>Opens with <see cref="ChatServer.OpenAsync"/> (a server with a backplane).</summary>
    public static async Task<ChatHarness> StartAsync(Action<ChatServerOptions>? configure = null, string? directory = null)
    {
        bool owns = directory is null;
        directory ??= Path.Combine(Path.GetTempPath(), "parley-chat-" + Guid.NewGuid().ToString("N"));
        var options = new ChatServerOptions { DataDirectory = directory };
        configure?.Invoke(options);
        return new ChatHarness(await ChatServer.OpenAsync(options), directory, owns);
    }

    /// <summary>Connects a client; <paramref name="serverSide"/> tunes the server's end (send queue limits).</summary>
    public TestClient Connect(Action<ConnectionOptions>? serverSide = null, bool read = true)
    {
        var serverOptions = new ConnectionOptions { Framer = Server.Framer, IdleTimeout = System.Threading.Timeout.InfiniteTimeSpan };
        serverSide?.Invoke(serverOptions);
        (Connection client, Connection server) = InMemoryConnection.CreatePair(new ConnectionOptions { Framer = Server.Options.CreateClientFramer(), IdleTimeout = System.Threading.Timeout.InfiniteTimeSpan }, serverOptions);
        _sessions.Add(Task.Run(async () =>
        {
            // As ParleyServer does: when the session ends, the connection is closed.
            await Server.RunSessionAsync(server, server.Closed);
            await server.CloseAsync();
        }));
        var testClient = new TestClient(client, server, read);
        _clients.Add(testClient);
        return testClient;
    }

    /// <summary>A client logged in (open mode) and joined to <paramref name="room"/>, its join events read.</summary>
    public async Task<TestClient> ConnectJoinedAsync(string room = "general")
    {
        TestClient client = Connect();
        JsonElement login = await client.ExpectAsync("login_successful");
        client.Send($$"""{"_ct":"join_room","r":"{{room}}"}""");

        // Another member's arrival (in a cluster, from another node) may be broadcast to the
        // room between this session's entry and its reply: skip to the reply, then to its own.
        string user = login.GetProperty("u").GetString()!;
        await client.WaitForAsync("user_joined_room");
        while ((await client.WaitForAsync("room_participation")).GetProperty("u").GetString() != user)
        {
        }

        return client;
    }

    /// <summary>Closes the clients, waits for their sessions to end, and closes the server (journal).</summary>
    public async Task StopServerAsync()
    {
        foreach (TestClient client in _clients)
        {
            await client.DisposeAsync();
        }

        await Task.WhenAll(_sessions).WaitAsync(Timeout);
        await Server.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await StopServerAsync();
        if (_ownsDirectory)
        {
            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (IOException)
            {
                // Best effort.
            }
        }
    }
}

/// <summary>A protocol client: sends command lines, collects event lines as JSON.</summary>
internal sealed class TestClient : IAsyncDisposable
{
    private readonly Channel<JsonElement> _events = Channel.CreateUnbounded<JsonElement>();
    private readonly Task _reading;

    public TestClient(Connection connection, Connection serverSide, bool read)
    {
        Connection = connection;
        ServerSide = serverSide;
        _reading = read ? Task.Run(ReadAsync) : Task.CompletedTask;
    }

    public Connection Connection { get; }

    public Connection ServerSide { get; }

    public void Send(string line) => Connection.Send(Encoding.UTF8.GetBytes(line));

    public void Send(object command) => Send(JsonSerializer.Serialize(command));

    /// <summary>The next event, whatever it is.</summary>
    public async Task<JsonElement> NextAsync()
    {
        try
        {
            return await _events.Reader.ReadAsync().AsTask().WaitAsync(ChatHarness.Timeout);
        }
        catch (ChannelClosedException)
        {
            throw new InvalidOperationException($"the connection closed ({Connection.CloseReason}) before the next event");
        }
    }

    /// <summary>The next event, which must be of type <paramref name="type"/>.</summary>
    public async Task<JsonElement> ExpectAsync(string type)
    {
        JsonElement next = await NextAsync();
        Assert.True(next.GetProperty("_et").GetString() == type, $"expected {type}, got {next}");
        return next;
    }

    /// <summary>Skips events until one of type <paramref name="type"/>.</summary>
    public async Task<JsonElement> WaitForAsync(string type)
    {
        while (true)
        {
            JsonElement next = await NextAsync();
            if (next.GetProperty("_et").GetString() == type)
            {
                return next;
            }
        }
    }

    /// <summary>Expects an error event with <paramref name="code"/>, then checks the connection still answers.</summary>
    public async Task ExpectErrorAndStillOpenAsync(string code)
    {
        JsonElement error = await ExpectAsync("error");
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        Send("""{"_ct":"ping"}""");
        await ExpectAsync("pong");
    }

    public async Task ClosedAsync() => await _reading.WaitAsync(ChatHarness.Timeout);

    private async Task ReadAsync()
    {
        try
        {
            await foreach (ReadOnlySequence<byte> line in Connection.ReadMessagesAsync())
            {
                using JsonDocument document = JsonDocument.Parse(line);
                _events.Writer.TryWrite(document.RootElement.Clone());
            }
        }
        finally
        {
            _events.Writer.TryComplete();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Connection.CloseAsync();
        await _reading.WaitAsync(ChatHarness.Timeout);
    }
}
