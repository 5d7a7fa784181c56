using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Parley.Chat.Tests;

public class TcpTests
{
    [Fact]
    public async Task A_plain_line_client_over_TCP_logs_in_joins_sends_and_gets_its_ack_with_CRLF_lines()
    {
        string directory = Path.Combine(Path.GetTempPath(), "parley-chat-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using (ChatServer chat = ChatServer.Open(new ChatServerOptions { DataDirectory = directory }))
            {
                await using var server = new ParleyServer(new ParleyServerOptions
                {
                    EndPoint = new IPEndPoint(IPAddress.Loopback, 0),
                    Framer = chat.Framer,
                    IdleTimeout = Timeout.InfiniteTimeSpan,
                });
                server.Start((connection, closed) => chat.RunSessionAsync(connection, closed));

                using var tcp = new TcpClient();
                await tcp.ConnectAsync((IPEndPoint)server.LocalEndPoint!).WaitAsync(ChatHarness.Timeout);
                using NetworkStream stream = tcp.GetStream();
                using var reader = new StreamReader(stream, Encoding.UTF8);
                async Task<JsonElement> ReadAsync()
                {
                    string line = (await reader.ReadLineAsync().WaitAsync(ChatHarness.Timeout))!;
                    return JsonDocument.Parse(line).RootElement.Clone();
                }

                async Task WriteAsync(string line) => await stream.WriteAsync(Encoding.UTF8.GetBytes(line + "\r\n"));

                JsonElement login = await ReadAsync();
                Assert.Equal("login_successful", login.GetProperty("_et").GetString());
                await WriteAsync("""{"_ct":"join_room","r":"general"}""");
                Assert.Equal("user_joined_room", (await ReadAsync()).GetProperty("_et").GetString());
                Assert.Equal("room_participation", (await ReadAsync()).GetProperty("_et").GetString());
                await WriteAsync("""{"_ct":"send_message","r":"general","c":"over tcp"}""");
                JsonElement message = await ReadAsync();
                Assert.Equal("over tcp", message.GetProperty("c").GetString());
                JsonElement ack = await ReadAsync();
                Assert.Equal("message_ack", ack.GetProperty("_et").GetString());
                Assert.Equal(message.GetProperty("id").GetInt64(), ack.GetProperty("id").GetInt64());
                await WriteAsync("""{"_ct":"quit"}""");
                Assert.Null(await reader.ReadLineAsync().WaitAsync(ChatHarness.Timeout)); // closed by the server
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
