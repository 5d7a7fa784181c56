using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Parley.Tests;

/// <summary>A group whose members use different framers (a chat room with TCP and WebSocket sessions).</summary>
public sealed class MixedFramerGroupTests
{
    /// <summary>Counts how many frames it wrote.</summary>
    private sealed class CountingFramer(MessageFramer inner) : MessageFramer(inner.MaxMessageSize)
    {
        private int _writes;

        public int Writes => Volatile.Read(ref _writes);

        public override FrameParseStatus TryParse(in ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> payload, out SequencePosition consumed) =>
            inner.TryParse(buffer, out payload, out consumed);

        public override int GetFrameLength(int payloadLength) => inner.GetFrameLength(payloadLength);

        public override int GetPayloadOffset(int payloadLength) => inner.GetPayloadOffset(payloadLength);

        public override void WriteFrame(ReadOnlySpan<byte> payload, Span<byte> destination)
        {
            Interlocked.Increment(ref _writes);
            inner.WriteFrame(payload, destination);
        }
    }

    private static ParleyServer Start(MessageFramer framer)
    {
        var server = new ParleyServer(new ParleyServerOptions { EndPoint = new IPEndPoint(IPAddress.Loopback, 0), Framer = framer });
        server.Start();
        return server;
    }

    private static async Task<List<Socket>> ConnectAsync(ParleyServer server, int count)
    {
        var sockets = new List<Socket>();
        for (int i = 0; i < count; i++)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(server.LocalEndPoint);
            sockets.Add(socket);
        }

        await TestSupport.Until(() => server.Connections.Count(c => c.State == ConnectionState.Open) == count, $"{count} open connections");
        return sockets;
    }

    [Fact]
    public async Task A_broadcast_is_framed_once_per_framer_and_each_member_gets_its_own_format()
    {
        var lines = new CountingFramer(new LineFramer());
        var prefixed = new CountingFramer(new LengthPrefixedFramer());
        await using ParleyServer lineServer = Start(lines);
        await using ParleyServer prefixedServer = Start(prefixed);
        List<Socket> lineClients = await ConnectAsync(lineServer, 3);
        List<Socket> prefixedClients = await ConnectAsync(prefixedServer, 2);
        var group = new ConnectionGroup("mixed", lines);
        foreach (Connection connection in lineServer.Connections.Concat(prefixedServer.Connections))
        {
            Assert.True(group.Add(connection));
        }

        Assert.Equal(5, group.Broadcast("hello"u8));

        Assert.Equal((1, 1), (lines.Writes, prefixed.Writes));
        foreach (Socket client in lineClients)
        {
            Assert.Equal("hello\n", Encoding.ASCII.GetString(await ReadBytesAsync(client, 6)));
        }

        foreach (Socket client in prefixedClients)
        {
            Assert.Equal("\u0005\0\0\0hello", Encoding.ASCII.GetString(await ReadBytesAsync(client, 9)));
        }

        // A frame the caller encoded with one framer is framed again, once, for the others.
        Frame frame = lines.CreateFrame("again"u8, BufferPool.Shared);
        try
        {
            Assert.Equal(5, group.Broadcast(frame));
        }
        finally
        {
            frame.Release();
        }

        Assert.Equal((2, 2), (lines.Writes, prefixed.Writes));
        foreach (Socket client in lineClients)
        {
            Assert.Equal("again\n", Encoding.ASCII.GetString(await ReadBytesAsync(client, 6)));
        }

        foreach (Socket client in prefixedClients)
        {
            Assert.Equal("\u0005\0\0\0again", Encoding.ASCII.GetString(await ReadBytesAsync(client, 9)));
        }

        foreach (Socket client in lineClients.Concat(prefixedClients))
        {
            client.Dispose();
        }
    }

    [Fact]
    public async Task A_member_leaving_the_other_format_makes_the_group_single_framer_again()
    {
        var lines = new CountingFramer(new LineFramer());
        var prefixed = new CountingFramer(new LengthPrefixedFramer());
        await using ParleyServer lineServer = Start(lines);
        await using ParleyServer prefixedServer = Start(prefixed);
        List<Socket> lineClients = await ConnectAsync(lineServer, 1);
        List<Socket> prefixedClients = await ConnectAsync(prefixedServer, 1);
        var group = new ConnectionGroup("mixed", lines);
        group.Add(lineServer.Connections[0]);
        group.Add(prefixedServer.Connections[0]);

        group.Remove(prefixedServer.Connections[0]);
        group.Broadcast("solo"u8);

        Assert.Equal((1, 0), (lines.Writes, prefixed.Writes));
        Assert.Equal("solo\n", Encoding.ASCII.GetString(await ReadBytesAsync(lineClients[0], 5)));
        lineClients[0].Dispose();
        prefixedClients[0].Dispose();
    }

    private static async Task<byte[]> ReadBytesAsync(Socket socket, int length)
    {
        byte[] buffer = new byte[length];
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        int read = 0;
        while (read < length)
        {
            int got = await socket.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, deadline.Token);
            Assert.NotEqual(0, got);
            read += got;
        }

        return buffer;
    }

    /// <summary>A framer that cannot say where its payload lies (the default).</summary>
    private sealed class OpaqueFramer() : MessageFramer(1024)
    {
        public override FrameParseStatus TryParse(in ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> payload, out SequencePosition consumed) =>
            LineFramer.Default.TryParse(buffer, out payload, out consumed);

        public override int GetFrameLength(int payloadLength) => payloadLength + 1;

        public override void WriteFrame(ReadOnlySpan<byte> payload, Span<byte> destination)
        {
            payload.CopyTo(destination);
            destination[payload.Length] = (byte)'\n';
        }
    }

    [Fact]
    public async Task A_frame_that_cannot_be_framed_again_for_other_members_is_refused_before_anyone_gets_it()
    {
        var opaque = new OpaqueFramer();
        var prefixed = new CountingFramer(new LengthPrefixedFramer());
        await using ParleyServer opaqueServer = Start(opaque);
        await using ParleyServer prefixedServer = Start(prefixed);
        List<Socket> clients = [.. await ConnectAsync(opaqueServer, 1), .. await ConnectAsync(prefixedServer, 1)];
        var group = new ConnectionGroup("mixed", opaque);
        group.Add(opaqueServer.Connections[0]);
        group.Add(prefixedServer.Connections[0]);
        Frame frame = opaque.CreateFrame("x"u8, BufferPool.Shared);

        Assert.Throws<InvalidOperationException>(() => group.Broadcast(frame));

        Assert.Equal(0, opaqueServer.Connections[0].MessagesSent + prefixedServer.Connections[0].MessagesSent);
        frame.Release();
        Assert.Throws<InvalidOperationException>(() => group.Broadcast(frame)); // released: refused, whatever the members
        foreach (Socket client in clients)
        {
            client.Dispose();
        }
    }
}
