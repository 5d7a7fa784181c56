using System.Buffers;
using Microsoft.Win32.SafeHandles;

namespace Parley.Journal.Internal;

/// <summary>
/// Where the records of one segment file start, sparsely: the id and offset of the first record
/// at or past every <see cref="Spacing"/> bytes. Built the first time a record of the segment is
/// read by id (<see cref="Journal.Read"/>), by one pass over the file, and extended as the
/// segment grows; a record is then found by reading forward from the checkpoint before it, at
/// most <see cref="Spacing"/> bytes and the record itself. Memory: 16 bytes per
/// <see cref="Spacing"/> of segment (64 KiB for a 64 MiB segment).
/// </summary>
/// <remarks>
/// Only whole, checksummed records up to the segment's committed length are indexed. Past
/// damage accepted at open, indexing goes on at the next whole record with a higher id (found
/// byte by byte, as the open's scan finds it), with a checkpoint there.
/// </remarks>
internal sealed class SegmentIndex(long firstId)
{
    public const int Spacing = 16 * 1024;

    private long[] _ids = new long[16];
    private long[] _offsets = new long[16];
    private int _count;
    private long _lastCheckpointOffset = -Spacing;

    /// <summary>The segment's first id (from its name and header).</summary>
    public long FirstId { get; } = firstId;

    /// <summary>The file offset up to which records have been indexed (the next record's start).</summary>
    public long IndexedTo { get; private set; }

    /// <summary>The id of the last record indexed; 0 when none.</summary>
    public long LastId { get; private set; }

    /// <summary>The segment's header did not read back: nothing in it is indexed.</summary>
    public bool Stuck { get; private set; }

    public long HeldBytes => (_ids.LongLength + _offsets.LongLength) * sizeof(long);

    /// <summary>
    /// Indexes what the file holds up to <paramref name="length"/> (the segment's committed length).
    /// </summary>
    public void Extend(SafeFileHandle file, long length, int maxPayload, RecordBuffer buffer)
    {
        if (IndexedTo == 0)
        {
            Span<byte> header = stackalloc byte[JournalFormat.SegmentHeaderSize];
            int read = RandomAccess.Read(file, header, 0);
            if (JournalFormat.ReadSegmentHeader(header[..read], out _, out _, out int headerSize) is not (JournalFormat.HeaderStatus.Ok or JournalFormat.HeaderStatus.Version1))
            {
                Stuck = true;
                return;
            }

            IndexedTo = headerSize;
        }

        bool resynced = false;
        while (!Stuck && IndexedTo < length)
        {
            if (!buffer.TryRead(file, IndexedTo, length, maxPayload, out long id, out _, out _, out int recordLength) || id <= LastId)
            {
                // Damage accepted at open: look for the next whole record further on, as the
                // open's scan did, and start a checkpoint there so no read walks into the damage.
                IndexedTo++;
                resynced = true;
                continue;
            }

            if (resynced || IndexedTo - _lastCheckpointOffset >= Spacing)
            {
                Add(id, IndexedTo);
                resynced = false;
            }

            LastId = id;
            IndexedTo += recordLength;
        }
    }

    /// <summary>The offset to read forward from to find record <paramref name="id"/> (indexed: at most <see cref="LastId"/>).</summary>
    public long StartFor(long id)
    {
        int i = Array.BinarySearch(_ids, 0, _count, id);
        if (i < 0)
        {
            i = ~i - 1; // the last checkpoint before it
        }

        return i < 0 ? _offsets[0] : _offsets[i];
    }

    private void Add(long id, long offset)
    {
        if (_count == _ids.Length)
        {
            Array.Resize(ref _ids, _count * 2);
            Array.Resize(ref _offsets, _count * 2);
        }

        _ids[_count] = id;
        _offsets[_count] = offset;
        _count++;
        _lastCheckpointOffset = offset;
    }
}

/// <summary>
/// A read-ahead window over a segment file for reading records one after another (positioned
/// reads, so it is not disturbed by the writer appending). Grows for a record larger than the
/// window; pooled, returned by <see cref="Dispose"/>.
/// </summary>
internal sealed class RecordBuffer : IDisposable
{
    private const int Window = 64 * 1024;

    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(Window);
    private SafeFileHandle? _file;
    private long _start; // file offset of _buffer[0]
    private int _length; // valid bytes in _buffer

    /// <summary>Reads the record at <paramref name="offset"/> (which must end by <paramref name="limit"/>); false when it is not a whole, valid record. The payload is valid until the next read.</summary>
    public bool TryRead(SafeFileHandle file, long offset, long limit, int maxPayload, out long id, out long timestampMicros, out ReadOnlyMemory<byte> payload, out int recordLength)
    {
        id = timestampMicros = 0;
        payload = default;
        recordLength = 0;
        if (!Ensure(file, offset, JournalFormat.RecordHeaderSize, limit))
        {
            return false;
        }

        uint bodyLength = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan((int)(offset - _start)));
        if (bodyLength < JournalFormat.BodyHeaderSize || bodyLength > (uint)maxPayload + JournalFormat.BodyHeaderSize
            || !Ensure(file, offset, JournalFormat.RecordHeaderSize + (int)bodyLength, limit))
        {
            return false;
        }

        int at = (int)(offset - _start);
        ReadOnlySpan<byte> source = _buffer.AsSpan(at, JournalFormat.RecordHeaderSize + (int)bodyLength);
        if (JournalFormat.TryReadRecord(source, maxPayload, out id, out timestampMicros, out int payloadOffset, out int payloadLength, out recordLength) != JournalFormat.ReadStatus.Ok)
        {
            return false;
        }

        payload = _buffer.AsMemory(at + payloadOffset, payloadLength); // valid until the next read
        return true;
    }

    /// <summary>Makes [offset, offset + count) present in the buffer, reading no further than <paramref name="limit"/>.</summary>
    private bool Ensure(SafeFileHandle file, long offset, int count, long limit)
    {
        if (offset + count > limit)
        {
            return false;
        }

        if (ReferenceEquals(file, _file) && offset >= _start && offset + count <= _start + _length)
        {
            return true;
        }

        if (count > _buffer.Length)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = ArrayPool<byte>.Shared.Rent(count);
        }

        int want = (int)Math.Min(_buffer.Length, limit - offset);
        int read = 0;
        while (read < want)
        {
            int n = RandomAccess.Read(file, _buffer.AsSpan(read, want - read), offset + read);
            if (n == 0)
            {
                break; // shorter than its committed length: truncated under us
            }

            read += n;
        }

        _file = file;
        _start = offset;
        _length = read;
        return read >= count;
    }

    /// <summary>Forgets the window (its file is being closed).</summary>
    public void Forget() => _file = null;

    public void Dispose()
    {
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
        _file = null;
    }
}
