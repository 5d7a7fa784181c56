using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Parley.Ipc;

namespace Parley.Bench;

/// <summary>The child process of <c>parley bench ipc</c>: echoes (pingpong) or counts and checks (stream) until the parent closes.</summary>
internal static class IpcBenchPeer
{
    public static async Task<int> RunAsync(string address, IpcBenchSettings s)
    {
        string[] parts = address.Split(':', 2);
        switch (parts[0])
        {
            case "ipc":
                using (IpcChannel channel = await IpcChannel.ConnectAsync(parts[1], new IpcOptions { WaitStrategy = s.Wait }))
                {
                    if (s.Pattern == "pingpong")
                    {
                        while (channel.Read(out ReadOnlySpan<byte> message))
                        {
                            channel.Write(message);
                        }
                    }
                    else
                    {
                        long received = 0;
                        bool inOrder = true;
                        while (channel.Read(out ReadOnlySpan<byte> message))
                        {
                            inOrder &= message.Length == s.Size && BitConverter.ToInt64(message) == received;
                            received++;
                        }

                        await Console.Out.WriteLineAsync(new JsonObject { ["received"] = received, ["in_order"] = inOrder }.ToJsonString());
                    }
                }

                return 0;
            case "tcp" or "uds":
                using (var socket = parts[0] == "tcp"
                    ? new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true }
                    : new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
                {
                    socket.Connect(parts[0] == "tcp" ? new IPEndPoint(IPAddress.Loopback, int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture)) : new UnixDomainSocketEndPoint(parts[1]));
                    byte[] buffer = new byte[s.Size];
                    while (true)
                    {
                        for (int got = 0; got < buffer.Length;)
                        {
                            int read = socket.Receive(buffer, got, buffer.Length - got, SocketFlags.None);
                            if (read == 0)
                            {
                                return 0;
                            }

                            got += read;
                        }

                        socket.Send(buffer);
                    }
                }

            default:
                await Console.Error.WriteLineAsync($"parley bench ipc: unknown peer address '{address}'.");
                return 2;
        }
    }
}
