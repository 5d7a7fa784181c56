using System.Buffers;
using System.Net;
using System.Net.Sockets;

namespace Parley.Tests;

/// <summary>Bounded waits and small builders shared by the tests.</summary>
internal static class TestSupport
{
    /// <summary>Generous: a loaded 2-core CI machine is slow, but a hang must still end the test.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public static Task<T> Within<T>(this Task<T> task) => task.WaitAsync(Timeout);

    public static Task Within(this Task task) => task.WaitAsync(Timeout);

    /// <summary>Waits for a condition that an event elsewhere makes true, polling, within the timeout.</summary>
    public static async Task Until(Func<bool> condition, string what)
    {
        using var deadline = new CancellationTokenSource(Timeout);
        while (!condition())
        {
            try
            {
                await Task.Delay(10, deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"Timed out waiting until {what}.");
            }
        }
    }

    public static ParleyServerOptions ServerOptions(BufferPool pool) => new()
    {
        EndPoint = new IPEndPoint(IPAddress.Loopback, 0),
        BufferPool = pool,
        ShutdownTimeout = TimeSpan.FromSeconds(10),
    };

    public static ParleyClientOptions ClientOptions(ParleyServer server, BufferPool pool) => new()
    {
        RemoteEndPoint = server.LocalEndPoint,
        BufferPool = pool,
    };

    /// <summary>A plain socket, for peers that misbehave in ways a Parley client would not.</summary>
    public static async Task<Socket> ConnectRawAsync(ParleyServer server)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.LocalEndPoint).Within();
        return socket;
    }

    /// <summary>Builds a sequence of one segment per array.</summary>
    public static ReadOnlySequence<byte> Segmented(params byte[][] parts)
    {
        if (parts.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        var first = new Segment(parts[0], 0);
        Segment last = first;
        for (int i = 1; i < parts.Length; i++)
        {
            last = last.Append(parts[i]);
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    public static byte[] LengthPrefixed(byte[] payload)
    {
        var frame = new byte[4 + payload.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)payload.Length);
        payload.CopyTo(frame, 4);
        return frame;
    }

    public static byte[] Pattern(int length, int seed)
    {
        var bytes = new byte[length];
        for (int i = 0; i < length; i++)
        {
            bytes[i] = (byte)((i * 31) + seed);
        }

        return bytes;
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
