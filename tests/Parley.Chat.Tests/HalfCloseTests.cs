using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Parley.Chat.Tests;

/// <summary>Issue 15, item 6: commands take effect in order, and a peer that stops sending still gets every reply.</summary>
public class HalfCloseTests
{
    [Fact]
    public async Task A_client_that_closes_its_sending_side_after_send_message_still_gets_its_ack()
    {
        await using var server = await TcpChat.StartAsync();
        for (int attempt = 0; attempt < 5; attempt++)
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(server.EndPoint).WaitAsync(ChatHarness.Timeout);
            NetworkStream stream = tcp.GetStream();

            // As `printf '...' | nc`: everything at once, then FIN.
            await stream.WriteAsync(Encoding.UTF8.GetBytes(
                "{\"_ct\":\"join_room\",\"r\":\"general\"}\n" +
                "{\"_ct\":\"send_message\",\"r\":\"general\",\"c\":\"one\"}\n" +
                "{\"_ct\":\"send_message\",\"r\":\"general\",\"c\":\"two\"}\n"));
            tcp.Client.Shutdown(SocketShutdown.Send);

            List<JsonElement> events = await ReadToEndAsync(stream);
            string[] types = [.. events.Select(e => e.GetProperty("_et").GetString()!)];
            Assert.Equal(["login_successful", "user_joined_room", "room_participation", "user_message", "message_ack", "user_message", "message_ack"], types);
        }
    }

    [Fact]
    public async Task History_sent_right_after_send_message_sees_the_message()
    {
        // fsync per batch: the history command arrives while the message is still being stored.
        await using var server = await TcpChat.StartAsync(o => o.Durability = Parley.Journal.JournalDurability.Always);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.EndPoint).WaitAsync(ChatHarness.Timeout);
        NetworkStream stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.UTF8.GetBytes(
            "{\"_ct\":\"join_room\",\"r\":\"general\"}\n" +
            "{\"_ct\":\"send_message\",\"r\":\"general\",\"c\":\"seen\"}\n" +
            "{\"_ct\":\"history\",\"r\":\"general\"}\n" +
            "{\"_ct\":\"leave_room\",\"r\":\"general\"}\n" +
            "{\"_ct\":\"quit\"}\n"));

        List<JsonElement> events = await ReadToEndAsync(stream);
        JsonElement history = events.Single(e => e.GetProperty("_et").GetString() == "history");
        Assert.Equal(["seen"], history.GetProperty("ms").EnumerateArray().Select(m => m.GetProperty("c").GetString()));

        // The sender heard its own message and its ack before it left the room.
        string[] types = [.. events.Select(e => e.GetProperty("_et").GetString()!)];
        Assert.True(Array.IndexOf(types, "message_ack") < Array.IndexOf(types, "history"), string.Join(",", types));
        Assert.True(Array.IndexOf(types, "user_message") < Array.LastIndexOf(types, "room_participation"), string.Join(",", types));
    }

    private static async Task<List<JsonElement>> ReadToEndAsync(NetworkStream stream)
    {
        using var reader = new StreamReader(stream, Encoding.UTF8, leaveOpen: true);
        var events = new List<JsonElement>();
        while (await reader.ReadLineAsync().WaitAsync(ChatHarness.Timeout) is { } line)
        {
            events.Add(JsonDocument.Parse(line).RootElement.Clone());
        }

        return events;
    }
}

/// <summary>A chat server on 127.0.0.1:0 over real TCP, with a fresh data folder.</summary>
internal sealed class TcpChat : IAsyncDisposable
{
    private readonly string _directory;

    private TcpChat(ChatServer chat, ParleyServer server, string directory)
    {
        Chat = chat;
        Server = server;
        _directory = directory;
    }

    public ChatServer Chat { get; }

    public ParleyServer Server { get; }

    public IPEndPoint EndPoint => (IPEndPoint)Server.LocalEndPoint;

    public static Task<TcpChat> StartAsync(Action<ChatServerOptions>? configure = null, Action<ParleyServerOptions>? network = null)
    {
        string directory = Path.Combine(Path.GetTempPath(), "parley-chat-" + Guid.NewGuid().ToString("N"));
        var options = new ChatServerOptions { DataDirectory = directory };
        configure?.Invoke(options);
        ChatServer chat = ChatServer.Open(options);
        var serverOptions = new ParleyServerOptions
        {
            EndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            Framer = chat.Framer,
            IdleTimeout = Timeout.InfiniteTimeSpan,
            KeepAliveInterval = Timeout.InfiniteTimeSpan,
            LoggerFactory = options.LoggerFactory,
        };
        network?.Invoke(serverOptions);
        var server = new ParleyServer(serverOptions);
        server.Start((connection, closed) => chat.RunSessionAsync(connection, closed));
        return Task.FromResult(new TcpChat(chat, server, options.DataDirectory));
    }

    public async ValueTask DisposeAsync()
    {
        await Server.StopAsync();
        await Chat.DisposeAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }
}
