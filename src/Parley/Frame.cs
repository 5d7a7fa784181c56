using System.Diagnostics;
using Parley.Internal;

namespace Parley;

/// <summary>
/// One outbound message already encoded by a framer (header, payload, trailer) in a pooled,
/// reference-counted buffer. A frame can sit in many connections' send queues at once: each
/// queue holds a reference and the buffer returns to its pool when the last one is released.
/// </summary>
/// <remarks>
/// Created by <see cref="MessageFramer.CreateFrame(ReadOnlySpan{byte}, BufferPool)"/> with one
/// reference owned by the caller. <see cref="Connection.Send(Frame)"/> takes its own reference,
/// so the caller releases its reference when it has handed the frame to every recipient.
/// Reference counting is thread-safe; the contents must not change once the frame is shared.
/// </remarks>
public sealed class Frame
{
    // Frame objects are recycled too, so that sending allocates nothing in steady state.
    // Capped at 16 384 (about 1 MB of Frame objects): one frame in flight per connection of a busy server.
    private static readonly BoundedObjectPool<Frame> FramePool = new(16_384);

    private byte[] _array = [];
    private int _length;
    private int _references;
    private BufferPool? _pool;
    private bool _isStatic;
    private bool _appendable;

    private Frame()
    {
    }

    /// <summary>The encoded bytes as they go on the wire.</summary>
    public ReadOnlyMemory<byte> Memory => new(_array, 0, _length);

    /// <summary>The encoded length in bytes.</summary>
    public int Length => _length;

    internal Span<byte> WritableSpan => _array.AsSpan(0, _length);

    /// <summary>Messages encoded in this frame: more than one when small sends were coalesced into it.</summary>
    internal int MessageCount { get; private set; }

    /// <summary>True for a keep-alive or other constant frame.</summary>
    internal bool IsStatic => _isStatic;

    /// <summary>
    /// A private frame of one connection's send queue that later small sends may be appended
    /// to while it waits at the queue's tail. Never true for a frame shared between queues.
    /// </summary>
    internal bool IsAppendable => _appendable;

    /// <summary>Room left for appended messages.</summary>
    internal int FreeCapacity => _array.Length - _length;

    /// <summary>Rents a private frame of <paramref name="capacity"/> bytes, empty, for one queue to append to.</summary>
    internal static Frame RentAppendable(BufferPool pool, int capacity)
    {
        Frame frame = Rent(pool, capacity);
        frame._length = 0;
        frame.MessageCount = 0;
        frame._appendable = true;
        return frame;
    }

    /// <summary>The next <paramref name="length"/> bytes after the current content, to encode one more message into.</summary>
    internal Span<byte> AppendSpan(int length) => _array.AsSpan(_length, length);

    /// <summary>Commits one message of <paramref name="length"/> bytes written through <see cref="AppendSpan"/>.</summary>
    internal void CommitAppend(int length)
    {
        _length += length;
        MessageCount++;
    }

    /// <summary>
    /// Rents a frame of <paramref name="length"/> bytes with one reference owned by the caller.
    /// The content is undefined until the caller writes it.
    /// </summary>
    internal static Frame Rent(BufferPool pool, int length)
    {
        Frame frame = FramePool.TryRent() ?? new Frame();
        frame._array = pool.Rent(length);
        frame._length = length;
        frame._appendable = false;
        frame.MessageCount = 1;
        frame._pool = pool;
        frame._references = 1;
        return frame;
    }

    /// <summary>A frame that is never returned to a pool (keep-alive frames, constants).</summary>
    internal static Frame CreateStatic(byte[] encoded) =>
        new() { _array = encoded, _length = encoded.Length, _references = 1, _isStatic = true, MessageCount = 0 };

    /// <summary>Adds a reference; each call must be matched by one <see cref="Release"/>.</summary>
    public void AddReference()
    {
        if (_isStatic)
        {
            return;
        }

        int after = Interlocked.Increment(ref _references);
        if (after <= 1)
        {
            ThrowHelper.ThrowFrameReleased();
        }
    }

    /// <summary>Adds <paramref name="count"/> references in one atomic step (a broadcast to
    /// <paramref name="count"/> recipients), instead of contending on the count once per recipient.</summary>
    internal void AddReferences(int count)
    {
        if (_isStatic || count == 0)
        {
            return;
        }

        if (Interlocked.Add(ref _references, count) <= count)
        {
            ThrowHelper.ThrowFrameReleased();
        }
    }

    /// <summary>Releases one reference; the last one returns the buffer to its pool.</summary>
    public void Release()
    {
        if (_isStatic)
        {
            return;
        }

        int after = Interlocked.Decrement(ref _references);
        if (after > 0)
        {
            return;
        }

        if (after < 0)
        {
            ThrowHelper.ThrowFrameReleased();
        }

        Debug.Assert(_pool is not null);
        _pool.Return(_array);
        _array = [];
        _length = 0;
        _appendable = false;
        _pool = null;
        FramePool.Return(this);
    }
}
