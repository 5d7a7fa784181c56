using System.Buffers;
using Microsoft.Extensions.ObjectPool;
using Parley.Journal;

namespace Parley.Chat;

/// <summary>
/// A <c>send_message</c> between its journal append and its delivery: the session and room, the
/// client's <c>ref</c>, and one pooled buffer holding the journal record — version and names, then
/// the content, which stays there for the <c>user_message</c> built once it is stored. Pooled:
/// taken from <see cref="Pool"/> per message and returned after delivery, so a send allocates nothing.
/// </summary>
internal sealed class PendingMessage
{
    /// <summary>Where the content starts in <see cref="Buffer"/>: after the largest record header.</summary>
    public const int ContentOffset = ChatRecord.MaxHeaderLength;

    // In flight at once is bounded by the journal's pending bytes; past this many the extra ones are garbage collected.
    public static readonly ObjectPool<PendingMessage> Pool = new DefaultObjectPool<PendingMessage>(new Policy(), maximumRetained: 1024);

    private byte[] _buffer = [];
    private int _contentOffset = ContentOffset;

    public Session Session { get; private set; } = null!;

    public Room Room { get; private set; } = null!;

    public long? Ref { get; private set; }

    /// <summary>The record's bytes start here; the content follows the header.</summary>
    public int RecordStart { get; private set; }

    public int ContentLength { get; private set; }

    /// <summary>Set by the journal's callback: the stored message's id and time, or why it was not stored.</summary>
    public JournalEntry Entry { get; set; }

    public Exception? Error { get; set; }

    public byte[] Buffer => _buffer;

    public ReadOnlySpan<byte> Record => _buffer.AsSpan(RecordStart, _contentOffset + ContentLength - RecordStart);

    /// <summary><see cref="Record"/> as memory (for a backplane's asynchronous publish; valid until <see cref="Return"/>).</summary>
    public ReadOnlyMemory<byte> RecordMemory => _buffer.AsMemory(RecordStart, _contentOffset + ContentLength - RecordStart);

    public ReadOnlySpan<byte> Content => _buffer.AsSpan(_contentOffset, ContentLength);

    /// <summary>A pending message whose buffer takes a content of up to <paramref name="maxContentBytes"/> at <see cref="ContentOffset"/>.</summary>
    public static PendingMessage Rent(int maxContentBytes)
    {
        PendingMessage pending = Pool.Get();
        pending._buffer = ArrayPool<byte>.Shared.Rent(ContentOffset + maxContentBytes);
        return pending;
    }

    /// <summary>
    /// Fills in what the command said, once its content is in the buffer at <see cref="ContentOffset"/>,
    /// and writes the record's header before it. The buffer was rented for the largest header and,
    /// on the fast path, for the whole line (which may be mostly fields the server ignores): when
    /// it is more than twice what the record needs, the content moves to a buffer that fits, so a
    /// message waiting for the disk holds about what the journal counts for it.
    /// </summary>
    public void Complete(Session session, Room room, int contentLength, long? reference)
    {
        Session = session;
        Room = room;
        ContentLength = contentLength;
        Ref = reference;
        int header = 3 + room.NameUtf8.Length + session.UserUtf8.Length;
        if (header <= ContentOffset && _buffer.Length / 2 >= header + contentLength)
        {
            byte[] fitted = ArrayPool<byte>.Shared.Rent(header + contentLength);
            _buffer.AsSpan(ContentOffset, contentLength).CopyTo(fitted.AsSpan(header));
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = fitted;
            _contentOffset = header;
        }

        RecordStart = ChatRecord.WriteHeaderBefore(_buffer, _contentOffset, room.NameUtf8, session.UserUtf8);
    }

    public void Return() => Pool.Return(this);

    private sealed class Policy : IPooledObjectPolicy<PendingMessage>
    {
        public PendingMessage Create() => new();

        public bool Return(PendingMessage pending)
        {
            if (pending._buffer.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(pending._buffer);
            }

            pending._buffer = [];
            pending._contentOffset = ContentOffset;
            pending.Session = null!;
            pending.Room = null!;
            pending.Error = null;
            pending.Ref = null;
            pending.Entry = default;
            pending.ContentLength = 0;
            return true;
        }
    }
}
