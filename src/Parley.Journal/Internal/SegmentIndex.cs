using System.Buffers;
using Microsoft.Win32.SafeHandles;

namespace Parley.Journal.Internal;

/// <summary>
/// Where the records of one segment file start, sparsely: the id and offset of the first record
/// at or past every <see cref="Spacing"/> bytes. Built the first time a record of the segment is
/// read by id (<see cref="Journal.Read"/>), by one pass of a <see cref="SegmentScanner"/> over the
/// file, and extended as the segment grows; a record is then found by reading forward from the
/// checkpoint before it, at most <see cref="Spacing"/> bytes and the record itself. Memory: 16
/// bytes per <see cref="Spacing"/> of segment (64 KiB for a 64 MiB segment).
/// </summary>
/// <remarks>
/// The scanner is the one the journal's open uses, so the index holds exactly the records the
/// open replayed: past damage it resynchronises the same way (trusting a damaged record's
/// length first, never looking inside a payload, only at plausible new ids), steps over
/// duplicates, and reads a segment whose header is damaged. After each skip a checkpoint is
/// placed on the next record, so no read by id walks through damage.
/// </remarks>
internal sealed class SegmentIndex(long firstId)
{
    public const int Spacing = 16 * 1024;

    private long[] _ids = new long[16];
    private long[] _offsets = new long[16];
    private int _count;
    private long _lastCheckpointOffset = -Spacing;

    /// <summary>The segment's first id (from its name).</summary>
    public long FirstId { get; } = firstId;

    /// <summary>Where the last record indexed ends; 0 before the first pass.</summary>
    public long IndexedTo { get; private set; }

    /// <summary>How far the file has been scanned (its committed length at the last pass).</summary>
    public long ScannedTo { get; private set; }

    /// <summary>The id of the last record indexed; 0 when none.</summary>
    public long LastId { get; private set; }

    public long HeldBytes => (_ids.LongLength + _offsets.LongLength) * sizeof(long);

    /// <summary>Indexes what the file holds up to <paramref name="length"/> (the segment's committed length).</summary>
    /// <exception cref="FileNotFoundException">The segment was deleted.</exception>
    public void Extend(string path, long length, int maxPayload)
    {
        if (length <= ScannedTo)
        {
            return;
        }

        using var scanner = new SegmentScanner(path, maxPayload, length, chunkSize: 64 * 1024);
        if (IndexedTo == 0)
        {
            scanner.ReadHeader(FirstId - 1); // ids below the name's first are an earlier segment's duplicates
        }
        else
        {
            scanner.ContinueAt(IndexedTo, LastId);
        }

        int skips = 0, duplicates = 0;
        while (scanner.TryReadNext(out long id, out _, out ReadOnlyMemory<byte> payload))
        {
            long offset = scanner.ValidLength - JournalFormat.RecordOverhead - payload.Length;
            if (scanner.Skips.Count != skips || scanner.Duplicates.Count != duplicates || offset - _lastCheckpointOffset >= Spacing)
            {
                Add(id, offset);
                skips = scanner.Skips.Count;
                duplicates = scanner.Duplicates.Count;
            }

            LastId = id;
            IndexedTo = scanner.ValidLength;
        }

        ScannedTo = length;
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
