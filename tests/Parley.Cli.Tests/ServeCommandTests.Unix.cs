using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Parley.Cli.Tests;

public sealed partial class ServeCommandTests
{
    [Fact]
    public async Task Serve_with_unix_accepts_on_TCP_and_a_Unix_socket_at_once_into_the_same_rooms_and_removes_the_socket_on_stop()
    {
        string path = Path.Combine(Path.GetTempPath(), $"parley-serve-{Guid.NewGuid():N}.sock");
        (ParleyProcess server, IPEndPoint endPoint) = await ParleyProcess.StartServeAsync("--data", _data, "--unix", path);
        await using (server)
        {
            Assert.Contains($"and unix:{path}", server.Output);
            using LineClient overTcp = await LineClient.ConnectAsync(endPoint);
            await overTcp.WaitForAsync("login_successful");
            await overTcp.SendAsync("""{"_ct":"join_room","r":"general"}""");
            await overTcp.WaitForAsync("room_participation");

            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path)).WaitAsync(ParleyProcess.Timeout);
            await using var stream = new NetworkStream(socket);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            async Task<JsonElement> UnixWaitFor(string type)
            {
                while (true)
                {
                    string line = await reader.ReadLineAsync().WaitAsync(ParleyProcess.Timeout) ?? throw new IOException($"closed before {type}");
                    JsonElement element = JsonDocument.Parse(line).RootElement.Clone();
                    if (element.GetProperty("_et").GetString() == type)
                    {
                        return element;
                    }
                }
            }

            await UnixWaitFor("login_successful");
            await stream.WriteAsync(Encoding.UTF8.GetBytes("{\"_ct\":\"join_room\",\"r\":\"general\"}\n"));
            await UnixWaitFor("room_participation");
            await stream.WriteAsync(Encoding.UTF8.GetBytes("{\"_ct\":\"send_message\",\"r\":\"general\",\"c\":\"over a unix socket\"}\n"));
            await UnixWaitFor("message_ack");

            JsonElement received = await overTcp.WaitForAsync("user_message");
            Assert.Contains("over a unix socket", received.ToString(), StringComparison.Ordinal);

            server.Terminate();
            Assert.Equal(0, await server.WaitForExitAsync());
        }

        Assert.False(File.Exists(path), "the socket file is removed when the server stops");
    }

    [Fact]
    public async Task Serve_refuses_a_unix_path_that_holds_a_regular_file_and_leaves_the_file_alone()
    {
        string path = Path.Combine(Path.GetTempPath(), $"parley-serve-{Guid.NewGuid():N}.sock");
        await File.WriteAllTextAsync(path, "not a socket");
        try
        {
            await ParleyProcess.AssertRefusesAsync("ddress already in use", "serve", "--port", "0", "--data", _data, "--unix", path);
            Assert.Equal("not a socket", await File.ReadAllTextAsync(path));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
