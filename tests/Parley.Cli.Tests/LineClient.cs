using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Parley.Cli.Tests;

/// <summary>A newline-delimited JSON client, as nc would be.</summary>
internal sealed class LineClient : IDisposable
{
    private readonly TcpClient _tcp = new();
    private StreamReader? _reader;
    private NetworkStream? _stream;

    public static async Task<LineClient> ConnectAsync(IPEndPoint endPoint)
    {
        var client = new LineClient();
        await client._tcp.ConnectAsync(endPoint).WaitAsync(ParleyProcess.Timeout);
        client._stream = client._tcp.GetStream();
        client._reader = new StreamReader(client._stream, Encoding.UTF8);
        return client;
    }

    public Task SendAsync(string line) => _stream!.WriteAsync(Encoding.UTF8.GetBytes(line + "\n")).AsTask();

    public async Task<JsonElement?> NextAsync()
    {
        string? line = await _reader!.ReadLineAsync().WaitAsync(ParleyProcess.Timeout);
        return line is null ? null : JsonDocument.Parse(line).RootElement.Clone();
    }

    public async Task<JsonElement> WaitForAsync(string type)
    {
        while (true)
        {
            JsonElement next = await NextAsync() ?? throw new IOException($"closed before {type}");
            if (next.GetProperty("_et").GetString() == type)
            {
                return next;
            }
        }
    }

    public void Dispose() => _tcp.Dispose();
}
