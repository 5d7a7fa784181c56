using System.Buffers.Binary;

namespace Parley.Journal;

/// <summary>
/// Reads one segment file record by record without trusting anything a checksum does not
/// cover. Where bytes are not a valid record it does not stop: it looks for the next position
/// that holds one (a plausible length and id, and a checksum that holds) and goes on from there,
/// noting what it skipped. So one damaged byte costs the record it is in, not the rest of the
/// file. Records whose id was already read (from this segment or an earlier one) are skipped as
/// duplicates.
/// </summary>
internal sealed class SegmentScanner : IDisposable
{
    private const int ChunkSize = 1024 * 1024;

    private readonly FileStream _file;
    private readonly int _maxPayload;
    private readonly byte[] _buffer;
    private int _start;
    private int _end;
    private long _bufferFileOffset;
    private bool _eof;
    private long _duplicateStart = -1;
    private bool _afterSkip;
    private readonly long _limit;

    /// <param name="path">The segment file.</param>
    /// <param name="maxPayload">The journal's largest payload.</param>
    /// <param name="limit">Read no further than this offset (a segment's committed length, while
    /// its writer may be appending past it); the file's end by default.</param>
    /// <param name="chunkSize">Bytes read at a time (raised to hold two of the largest records).</param>
    public SegmentScanner(string path, int maxPayload, long limit = long.MaxValue, int chunkSize = ChunkSize)
    {
        Path = path;
        _file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
        FileLength = _file.Length;
        _maxPayload = maxPayload;
        _limit = limit;
        // Room for two of the largest records: a search for the next record after damage then moves
        // the unread bytes to the front at most once per half a buffer read (linear, not quadratic).
        _buffer = new byte[Math.Max(chunkSize, 2 * (maxPayload + JournalFormat.RecordOverhead + JournalFormat.RecordHeaderSize))];
        NameFirstId = JournalFormat.FirstIdFromName(path);
    }

    /// <summary>
    /// Goes on from <paramref name="offset"/>, where a record the caller read before ends, as if
    /// the header and every record up to <paramref name="lastId"/> had just been read (an index
    /// extended as its segment grows). Call instead of <see cref="ReadHeader"/>; the header's
    /// ids are read again (they make ids found after damage plausible).
    /// </summary>
    public void ContinueAt(long offset, long lastId)
    {
        ReadHeader(lastId);
        _file.Position = offset;
        _bufferFileOffset = offset;
        _start = _end = 0;
        _eof = false;
        ValidLength = offset;
        Records = 1; // ids after lastId that skip some are gaps, not a first record
    }

    /// <summary>Bytes of corrupt or unreadable data skipped: from <paramref name="Offset"/>, <paramref name="Length"/> bytes,
    /// after the record with id <paramref name="IdBefore"/>, up to the one with <paramref name="IdAfter"/> (0: the file ended);
    /// <paramref name="BeforeFirstRecord"/>: no record of this file had been read yet;
    /// <paramref name="TornShape"/>: (for a skip running to the end) what a write cut short leaves — a last record
    /// shorter than its own length field says, or zeros only.</summary>
    public readonly record struct Skip(long Offset, long Length, long IdBefore, long IdAfter, bool BeforeFirstRecord, bool TornShape = false, bool Zeros = false);

    /// <summary>Records skipped because their ids were already read.</summary>
    public readonly record struct Duplicate(long Offset, long Length, long FirstId, long LastId);

    public string Path { get; }

    public long FileLength { get; }

    /// <summary>The first id the file's name gives (0 when it is not a name the journal writes).</summary>
    public long NameFirstId { get; }

    public JournalFormat.HeaderStatus Header { get; private set; }

    /// <summary>The header's first id (when <see cref="Header"/> is Ok or Version1).</summary>
    public long HeaderFirstId { get; private set; }

    /// <summary>The header's previous id (when <see cref="Header"/> is Ok; first id − 1 for Version1).</summary>
    public long HeaderPreviousId { get; private set; }

    /// <summary>The id of the first record read from this file; 0 when none.</summary>
    public long FirstRecordId { get; private set; }

    /// <summary>The highest id read so far, this file's or (before any) the one given to <see cref="ReadHeader"/>.</summary>
    public long LastId { get; private set; }

    /// <summary>Records read from this file (duplicates not counted).</summary>
    public long Records { get; private set; }

    /// <summary>Where the last valid record (or the header) ends.</summary>
    public long ValidLength { get; private set; }

    /// <summary>Ranges of bytes that were not valid records.</summary>
    public List<Skip> Skips { get; } = [];

    /// <summary>Ids missing between two valid records of this file: (first, last) missing id.</summary>
    public List<(long First, long Last)> Gaps { get; } = [];

    /// <summary>Runs of records whose ids were already read.</summary>
    public List<Duplicate> Duplicates { get; } = [];

    /// <summary>True when the file ends in bytes that are not a valid record (the last skip runs to the end).</summary>
    public bool HasBadTail => Skips.Count > 0 && Skips[^1].IdAfter == 0;

    /// <summary>Reads the header. <paramref name="previousId"/> is the highest id the journal read before this file.</summary>
    public void ReadHeader(long previousId)
    {
        LastId = previousId;
        Ensure(JournalFormat.SegmentHeaderSize);
        Header = JournalFormat.ReadSegmentHeader(_buffer.AsSpan(_start, _end - _start), out long firstId, out long headerPreviousId, out int headerSize);
        if (Header is JournalFormat.HeaderStatus.Ok or JournalFormat.HeaderStatus.Version1)
        {
            HeaderFirstId = firstId;
            HeaderPreviousId = headerPreviousId;
        }
        else
        {
            // Where records would start in the shortest header; anything before the first valid
            // record is skipped by the resynchronising read.
            headerSize = Math.Min(JournalFormat.SegmentHeaderSizeV1, _end - _start);
        }

        _start += headerSize;
        ValidLength = headerSize;
    }

    /// <summary>The next valid, new record, or false at the end of the file. The payload is valid until the next call.</summary>
    public bool TryReadNext(out long id, out long timestampMicros, out ReadOnlyMemory<byte> payload)
    {
        payload = default;
        while (true)
        {
            JournalFormat.ReadStatus status = JournalFormat.TryReadRecord(
                _buffer.AsSpan(_start, _end - _start), _maxPayload, out id, out timestampMicros, out int payloadOffset, out int payloadLength, out int recordLength);
            if (status == JournalFormat.ReadStatus.Ok && id is > 0 and <= JournalFormat.MaxId)
            {
                long offset = _bufferFileOffset + _start;
                _start += recordLength;
                ValidLength = offset + recordLength;
                if (id <= LastId)
                {
                    NoteDuplicate(offset, recordLength, id);
                    continue;
                }

                EndDuplicates();
                if (Records > 0 && id != LastId + 1 && !_afterSkip)
                {
                    Gaps.Add((LastId + 1, id - 1)); // valid records, but ids missing between them
                }

                _afterSkip = false;
                if (Records == 0)
                {
                    FirstRecordId = id;
                }

                Records++;
                LastId = id;
                payload = _buffer.AsMemory(_start - recordLength + payloadOffset, payloadLength);
                return true;
            }

            if (status == JournalFormat.ReadStatus.Incomplete && !_eof)
            {
                ReadMore();
                continue;
            }

            EndDuplicates();
            if (_start == _end && _eof)
            {
                return false; // the end of the file, cleanly
            }

            long skipStart = _bufferFileOffset + _start;
            bool found = Resynchronise(skipStart, out long nextId, out bool tornShape, out bool zeros);
            Skips.Add(new Skip(skipStart, _bufferFileOffset + _start - skipStart, LastId, found ? nextId : 0, Records == 0, !found && tornShape, !found && zeros));
            if (!found)
            {
                return false;
            }

            _afterSkip = true; // the skip accounts for the ids up to the record found
        }
    }

    /// <summary>
    /// Moves from the bad record at the current position to the next position holding a valid
    /// record with a plausible new id; false when the file ends first (then <paramref name="tornShape"/>
    /// says whether what was skipped looks like a write cut short, and <paramref name="zeros"/> whether it was all zeros).
    /// </summary>
    private bool Resynchronise(long skipStart, out long nextId, out bool tornShape, out bool zeros)
    {
        nextId = 0;
        Ensure(JournalFormat.RecordHeaderSize);
        int available = _end - _start;
        uint declared = available >= 4 ? BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan(_start)) : 0;
        bool declaredInRange = declared >= JournalFormat.BodyHeaderSize && declared <= (uint)_maxPayload + JournalFormat.BodyHeaderSize;

        // A write cut short: fewer bytes left than the last record's own length field says.
        tornShape = available < JournalFormat.RecordHeaderSize
            || (declaredInRange && !Ensure(JournalFormat.RecordHeaderSize + (int)declared));
        zeros = true;

        // First, trust the bad record's length: when the damage is elsewhere in it, the next record
        // starts right after it. This also never looks inside its payload, where a user's content
        // could hold bytes shaped like a record.
        if (declaredInRange && ValidAt(JournalFormat.RecordHeaderSize + (int)declared, skipStart, out nextId))
        {
            zeros = false;
            _start += JournalFormat.RecordHeaderSize + (int)declared;
            return true;
        }

        // Else look at every following position.
        while (true)
        {
            if (_end - _start < JournalFormat.RecordOverhead)
            {
                if (_eof)
                {
                    for (int i = _start; i < _end; i++)
                    {
                        zeros &= _buffer[i] == 0;
                    }

                    _start = _end;
                    return false;
                }

                ReadMore();
                continue;
            }

            zeros &= _buffer[_start] == 0;
            _start++;
            if (ValidAt(0, skipStart, out nextId))
            {
                return true;
            }
        }
    }

    /// <summary>Whether a valid record with a plausible new id starts <paramref name="offset"/> bytes after the current position
    /// (reading more of the file as needed).</summary>
    private bool ValidAt(int offset, long skipStart, out long id)
    {
        id = 0;
        if (!Ensure(offset + JournalFormat.RecordOverhead))
        {
            return false;
        }

        ReadOnlySpan<byte> candidate = _buffer.AsSpan(_start + offset, _end - _start - offset);
        uint bodyLength = BinaryPrimitives.ReadUInt32LittleEndian(candidate);
        long candidateId = BinaryPrimitives.ReadInt64LittleEndian(candidate[JournalFormat.RecordHeaderSize..]);
        if (bodyLength < JournalFormat.BodyHeaderSize || bodyLength > (uint)_maxPayload + JournalFormat.BodyHeaderSize
            || !Plausible(candidateId, _bufferFileOffset + _start + offset - skipStart))
        {
            return false;
        }

        if (!Ensure(offset + JournalFormat.RecordHeaderSize + (int)bodyLength))
        {
            return false;
        }

        candidate = _buffer.AsSpan(_start + offset, _end - _start - offset);
        if (JournalFormat.TryReadRecord(candidate, _maxPayload, out _, out _, out _, out _, out _) != JournalFormat.ReadStatus.Ok)
        {
            return false;
        }

        id = candidateId;
        return true;
    }

    /// <summary>
    /// Whether a record found <paramref name="distance"/> bytes after the damage began may carry
    /// <paramref name="id"/>: it must be new, and no further from a known starting point (the id
    /// after the last one read, the header's first id, the name's) than records of the minimum
    /// size could have filled. A random match would need a checksum to hold as well.
    /// </summary>
    private bool Plausible(long id, long distance)
    {
        if (id <= LastId || id > JournalFormat.MaxId)
        {
            return false;
        }

        long reach = (distance / JournalFormat.RecordOverhead) + 1;
        return Near(LastId + 1) || (HeaderFirstId > LastId && Near(HeaderFirstId)) || (NameFirstId > LastId && Near(NameFirstId));

        bool Near(long start) => id >= start && id - start <= reach;
    }

    private void NoteDuplicate(long offset, int length, long id)
    {
        if (_duplicateStart < 0)
        {
            _duplicateStart = Duplicates.Count;
            Duplicates.Add(new Duplicate(offset, length, id, id));
            return;
        }

        Duplicate last = Duplicates[^1];
        Duplicates[^1] = last with { Length = offset + length - last.Offset, LastId = id };
    }

    private void EndDuplicates() => _duplicateStart = -1;

    /// <summary>Makes at least <paramref name="wanted"/> bytes from the current position available, unless the file ends first.</summary>
    private bool Ensure(int wanted)
    {
        while (_end - _start < wanted && !_eof && !(_start == 0 && _end == _buffer.Length))
        {
            ReadMore();
        }

        return _end - _start >= wanted;
    }

    /// <summary>Reads more of the file into the buffer, moving the unread bytes to the front only when the buffer's end is reached.</summary>
    private void ReadMore()
    {
        if (_end == _buffer.Length)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _bufferFileOffset += _start;
            _end -= _start;
            _start = 0;
            if (_end == _buffer.Length)
            {
                return; // full of unread bytes: nothing to make room for (callers never need more than half)
            }
        }

        long room = _limit - (_bufferFileOffset + _end);
        int read = room <= 0 ? 0 : _file.Read(_buffer, _end, (int)Math.Min(_buffer.Length - _end, room));
        if (read == 0)
        {
            _eof = true;
            return;
        }

        _end += read;
    }

    public void Dispose() => _file.Dispose();
}
