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
/// reference owned by the caller. <see cref="Connection.Send(Frame)"/> and
/// <see cref="ConnectionGroup.Broadcast(Frame, Connection?)"/> take references of their own, so
/// the caller releases its reference when it has handed the frame to every recipient.
/// Reference counting is thread-safe; the contents must not change once the frame is shared.
/// <para>
/// Misuse is detected, not silently absorbed: the caller's references are counted apart from
/// the send queues', so releasing one more time than was added throws
/// <see cref="InvalidOperationException"/> and can never take a reference a queue still holds;
/// and a frame handed out by <see cref="MessageFramer.CreateFrame"/> is never recycled as
/// another message's frame (only its buffer is), so a stale <see cref="Release"/> after the last
/// one throws as well instead of reaching the next renter. See docs/architecture.md.
/// </para>
/// </remarks>
public sealed class Frame
{
    // The count is one 64-bit word so that "last reference gone" is one atomic decision:
    // the high half counts references held by callers (CreateFrame, AddReference), the low
    // half references held by send queues and Parley's own senders.
    private const long CallerReference = 1L << 32;
    private const long QueueReferenceMask = CallerReference - 1;

    // Frame objects used only inside Parley are recycled too, so that sending allocates nothing
    // in steady state. Capped at 16 384 (about 1 MB of Frame objects): one frame in flight per
    // connection of a busy server. Frames that callers can hold are never put back here.
    private static readonly BoundedObjectPool<Frame> FramePool = new(16_384);

    private byte[] _array = [];
    private int _length;
    private long _references;
    private BufferPool? _pool;
    private bool _isStatic;
    private bool _appendable;
    private bool _callerOwned;

    private Frame()
    {
    }

    /// <summary>The encoded bytes as they go on the wire; empty once the last reference is released.</summary>
    public ReadOnlyMemory<byte> Memory => new(_array, 0, _length);

    /// <summary>The encoded length in bytes.</summary>
    public int Length => _length;

    internal Span<byte> WritableSpan => _array.AsSpan(0, _length);

    /// <summary>The framer that encoded this frame, when one did (not for coalesced or constant frames).</summary>
    internal MessageFramer? Framer { get; private set; }

    private int _payloadOffset = -1;
    private int _payloadLength;

    /// <summary>The message as given to the framer, for framing it again for a connection that uses another framer.</summary>
    /// <exception cref="InvalidOperationException">The framer does not store payloads as they are (see <see cref="MessageFramer.GetPayloadOffset"/>).</exception>
    internal ReadOnlyMemory<byte> Payload => _payloadOffset >= 0
        ? new ReadOnlyMemory<byte>(_array, _payloadOffset, _payloadLength)
        : throw new InvalidOperationException("This frame's framer does not say where its payload lies, so it cannot be sent to connections that use another framer.");

    /// <summary>Records which framer wrote this frame and where the payload lies in it.</summary>
    internal void SetOrigin(MessageFramer framer, int payloadOffset, int payloadLength)
    {
        Framer = framer;
        _payloadOffset = payloadOffset >= 0 && payloadOffset + payloadLength <= _length ? payloadOffset : -1;
        _payloadLength = payloadLength;
    }

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
    /// Rents a frame of <paramref name="length"/> bytes for Parley's own use, with one queue
    /// reference owned by the caller (released with <see cref="ReleaseQueueReference"/>). The
    /// object is recycled after its last release, so it must never reach application code.
    /// The content is undefined until the caller writes it.
    /// </summary>
    internal static Frame Rent(BufferPool pool, int length)
    {
        Frame frame = FramePool.TryRent() ?? new Frame();
        frame.Initialize(pool, length, callerOwned: false);
        return frame;
    }

    /// <summary>
    /// Creates a frame of <paramref name="length"/> bytes for application code, with one caller
    /// reference (released with <see cref="Release"/>). Its buffer is pooled; the object itself
    /// is not recycled, so a reference the caller keeps can only ever reach this frame.
    /// </summary>
    internal static Frame RentForCaller(BufferPool pool, int length)
    {
        var frame = new Frame();
        frame.Initialize(pool, length, callerOwned: true);
        return frame;
    }

    /// <summary>A frame that is never returned to a pool (keep-alive frames, constants).</summary>
    internal static Frame CreateStatic(byte[] encoded) =>
        new() { _array = encoded, _length = encoded.Length, _references = 1, _isStatic = true, MessageCount = 0 };

    /// <summary>Adds a reference for the caller; each call must be matched by one <see cref="Release"/>.</summary>
    /// <exception cref="InvalidOperationException">The caller holds no reference any more: every one was released.</exception>
    public void AddReference()
    {
        if (_isStatic)
        {
            return;
        }

        AddChecked(CallerReference);
    }

    /// <summary>Releases one of the caller's references; the last reference of all returns the buffer to its pool.</summary>
    /// <exception cref="InvalidOperationException">More releases than references: the frame was released
    /// already. Nothing changes, so send queues that still hold the frame are unaffected.</exception>
    public void Release()
    {
        if (_isStatic)
        {
            return;
        }

        // Compare-and-swap, not a plain decrement: a release without a caller reference must fail
        // without touching the count, or it would take a reference a send queue still holds.
        long current = Volatile.Read(ref _references);
        while (true)
        {
            if (current < CallerReference)
            {
                ThrowHelper.ThrowFrameOverReleased();
            }

            long seen = Interlocked.CompareExchange(ref _references, current - CallerReference, current);
            if (seen == current)
            {
                if (current == CallerReference)
                {
                    Free();
                }

                return;
            }

            current = seen;
        }
    }

    /// <summary>
    /// Takes <paramref name="count"/> queue references (a send to one connection, or a broadcast
    /// to <paramref name="count"/> recipients) in one atomic step, instead of contending on the
    /// count once per recipient. For a frame from <see cref="MessageFramer.CreateFrame"/> the
    /// caller must still hold a reference of its own.
    /// </summary>
    /// <exception cref="InvalidOperationException">An application frame whose caller references were all released.</exception>
    internal void AddQueueReferences(int count)
    {
        if (_isStatic)
        {
            return;
        }

        if (_callerOwned)
        {
            // Checked even for no recipients: sending a released frame is the caller's bug either way.
            AddChecked(count);
            return;
        }

        long after = Interlocked.Add(ref _references, count);
        Debug.Assert(after > count, "A Parley-owned frame gained references after its last release.");
    }

    /// <summary>Releases one queue reference; the last reference of all returns the buffer to its pool.</summary>
    internal void ReleaseQueueReference()
    {
        if (_isStatic)
        {
            return;
        }

        long after = Interlocked.Decrement(ref _references);
        Debug.Assert((after & QueueReferenceMask) != QueueReferenceMask, "More queue releases than queue references.");
        if (after == 0)
        {
            Free();
        }
    }

    /// <summary>Frees a frame just rented that nobody else has seen (its encoding failed), whatever kind of reference it was created with.</summary>
    internal void DiscardUnshared() => Free();

    private void Initialize(BufferPool pool, int length, bool callerOwned)
    {
        Framer = null;
        _payloadOffset = -1;
        _array = pool.Rent(length);
        _length = length;
        _appendable = false;
        _callerOwned = callerOwned;
        MessageCount = 1;
        _pool = pool;
        _references = callerOwned ? CallerReference : 1;
    }

    // Adds references only while the caller holds one: once its last reference is gone the
    // frame may be freed at any moment, and reviving it would hand out a returned buffer.
    // An application frame is never recycled, so the check cannot be fooled by a reuse (no ABA).
    private void AddChecked(long amount)
    {
        long current = Volatile.Read(ref _references);
        while (true)
        {
            if (current < CallerReference)
            {
                ThrowHelper.ThrowFrameReleased();
            }

            long seen = Interlocked.CompareExchange(ref _references, current + amount, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    private void Free()
    {
        _payloadOffset = -1;
        Debug.Assert(_pool is not null);
        BufferPool pool = _pool;
        byte[] array = _array;
        _array = [];
        _length = 0;
        _appendable = false;
        _pool = null;
        pool.Return(array);
        if (!_callerOwned)
        {
            FramePool.Return(this);
        }
    }
}
