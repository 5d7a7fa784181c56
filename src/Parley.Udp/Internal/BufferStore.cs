using System.Buffers;
using System.Numerics;

namespace Parley.Udp;

/// <summary>
/// Buffers for message payloads and outgoing datagrams, kept per host in power-of-two size
/// classes from 64 bytes to 64 KiB. Every rent and return happens under the host's lock, so
/// plain stacks do; the shared <see cref="ArrayPool{T}"/> cannot serve this pattern (thousands
/// of buffers rented on the application's thread and returned on the receive thread overflow its
/// per-thread caches, and it allocates). Bounded: at most <c>maxRetainedBytes</c> are kept idle;
/// larger buffers come from and go back to the shared pool. Not thread-safe.
/// </summary>
internal sealed class BufferStore(long maxRetainedBytes)
{
    private const int MinShift = 6;   // 64 B
    private const int MaxShift = 16;  // 64 KiB
    private readonly Stack<byte[]>[] _classes = [.. Enumerable.Range(0, MaxShift - MinShift + 1).Select(_ => new Stack<byte[]>())];
    private long _retainedBytes;

    /// <summary>Buffers rented and not returned yet (tests prove every one comes back).</summary>
    public long Outstanding { get; private set; }

    /// <summary>Bytes of idle buffers kept for reuse now (at most the cap given at construction).</summary>
    public long RetainedBytes => _retainedBytes;

    /// <summary>The length of the buffer <see cref="Rent"/> hands out for <paramref name="size"/> bytes (a power of two, at least 64): what a budget charges.</summary>
    public static int SizeOf(int size) => 1 << Math.Max(MinShift, BitOperations.Log2((uint)Math.Max(1, size) - 1) + 1);

    public byte[] Rent(int size)
    {
        Outstanding++;
        int shift = Math.Max(MinShift, BitOperations.Log2((uint)Math.Max(1, size) - 1) + 1);
        if (shift > MaxShift)
        {
            return ArrayPool<byte>.Shared.Rent(size);
        }

        Stack<byte[]> stack = _classes[shift - MinShift];
        if (stack.TryPop(out byte[]? buffer))
        {
            _retainedBytes -= buffer.Length;
            return buffer;
        }

        return GC.AllocateUninitializedArray<byte>(1 << shift);
    }

    public void Return(byte[] buffer)
    {
        Outstanding--;
        int shift = BitOperations.Log2((uint)buffer.Length);
        if (buffer.Length != 1 << shift || shift < MinShift || shift > MaxShift)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            return;
        }

        if (_retainedBytes + buffer.Length > maxRetainedBytes)
        {
            return; // over the cap: let the collector have it
        }

        _classes[shift - MinShift].Push(buffer);
        _retainedBytes += buffer.Length;
    }
}
