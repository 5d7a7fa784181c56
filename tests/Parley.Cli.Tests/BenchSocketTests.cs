using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Parley.Cli.Bench;

namespace Parley.Cli.Tests;

/// <summary>The bench's own framing: every frame the server writes is counted once, however the bytes arrive.</summary>
public class BenchSocketTests
{
    private sealed class Recorder(Socket socket) : BenchSocket(new BenchLink(socket, null), largestFrame: 100)
    {
        private readonly List<byte[]> _frames = [];

        public List<byte[]> Frames
        {
            get
            {
                lock (_frames)
                {
                    return [.. _frames];
                }
            }
        }

        protected override void OnFrame(ReadOnlySpan<byte> payload)
        {
            lock (_frames)
            {
                _frames.Add(payload.ToArray());
            }
        }
    }

    private static byte[] Framed(params byte[][] payloads)
    {
        var stream = new MemoryStream();
        foreach (byte[] payload in payloads)
        {
            byte[] header = new byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)payload.Length);
            stream.Write(header);
            stream.Write(payload);
        }

        return stream.ToArray();
    }

    [Fact]
    public async Task Frames_split_at_odd_places_larger_than_the_buffer_and_keep_alives_are_handled()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var endPoint = (IPEndPoint)listener.LocalEndpoint;
        Task<Socket> accepting = listener.AcceptSocketAsync();
        await using var recorder = new Recorder(await BenchSocket.ConnectAsync(endPoint, null, TimeSpan.FromSeconds(10), CancellationToken.None));
        using Socket server = await accepting;
        recorder.StartReceiving();

        byte[] small = [1, 2, 3];
        byte[] big = Enumerable.Range(0, 100_000).Select(i => (byte)i).ToArray(); // past the 16 KiB buffer
        byte[] bytes = Framed(small, [], big, small);
        // Dribble the bytes in pieces of 1, 2, 3, … so headers and payloads split everywhere.
        int offset = 0;
        for (int piece = 1; offset < bytes.Length; piece = piece % 7 + 1)
        {
            int length = Math.Min(piece == 7 ? 30_000 : piece, bytes.Length - offset);
            await server.SendAsync(bytes.AsMemory(offset, length));
            offset += length;
            if (offset < 64)
            {
                await Task.Delay(2);
            }
        }

        await TestWait.UntilAsync(() => recorder.Frames.Count >= 3);
        List<byte[]> frames = recorder.Frames;
        Assert.Equal(3, frames.Count); // the empty keep-alive is not a message
        Assert.Equal(small, frames[0]);
        Assert.Equal(big, frames[1]);
        Assert.Equal(small, frames[2]);
    }

    [Fact]
    public async Task Closed_becomes_true_when_the_server_hangs_up()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        Task<Socket> accepting = listener.AcceptSocketAsync();
        await using var recorder = new Recorder(await BenchSocket.ConnectAsync((IPEndPoint)listener.LocalEndpoint, null, TimeSpan.FromSeconds(10), CancellationToken.None));
        Socket server = await accepting;
        recorder.StartReceiving();
        Assert.False(recorder.Closed);
        server.Dispose();
        await TestWait.UntilAsync(() => recorder.Closed);
        Assert.True(recorder.Closed);
    }
}
