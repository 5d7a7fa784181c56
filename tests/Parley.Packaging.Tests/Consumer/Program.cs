// What a new user writes with the Parley.Core and Parley.Chat packages: an echo round trip,
// then a chat session against a chat server in the same process. Prints what it got back.
using System.Buffers;
using System.Net;
using System.Text;
using Parley;
using Parley.Chat;

await using (var echo = new ParleyServer(new ParleyServerOptions { EndPoint = new IPEndPoint(IPAddress.Loopback, 0) }))
{
    echo.MessageReceived += (connection, message) => connection.Send(message);
    echo.Start();
    await using Connection client = await ParleyClient.OpenConnectionAsync(new ParleyClientOptions { RemoteEndPoint = echo.LocalEndPoint });
    await client.SendAsync(Encoding.UTF8.GetBytes("ping from a package"));
    await foreach (var reply in client.ReadMessagesAsync())
    {
        Console.WriteLine("echo: " + Encoding.UTF8.GetString(reply.ToArray()));
        break;
    }
}

string data = Path.Combine(Path.GetTempPath(), "parley-consumer-" + Guid.NewGuid().ToString("N"));
try
{
    await using ChatServer chat = ChatServer.Open(new ChatServerOptions { DataDirectory = data });
    await using var server = new ParleyServer(new ParleyServerOptions
    {
        EndPoint = new IPEndPoint(IPAddress.Loopback, 0),
        Framer = chat.Framer,
        IdleTimeout = Timeout.InfiniteTimeSpan,
        KeepAliveInterval = Timeout.InfiniteTimeSpan,
    });
    server.Start((connection, closed) => chat.RunSessionAsync(connection, closed));

    await using ChatClient alice = await ChatClient.ConnectAsync(new ParleyClientOptions
    {
        RemoteEndPoint = server.LocalEndPoint,
        Framer = ChatProtocol.CreateClientFramer(),
        IdleTimeout = Timeout.InfiniteTimeSpan,
    });
    await alice.JoinRoomAsync("general");
    MessageAckEvent ack = await alice.SendMessageAsync("general", "hello from a package");
    HistoryEvent history = await alice.GetHistoryAsync("general", limit: 10);
    Console.WriteLine($"chat: user {alice.User}, ack {ack.Id}, history {string.Join(" | ", history.Messages.Select(m => m.Content))}");
}
finally
{
    Directory.Delete(data, recursive: true);
}
