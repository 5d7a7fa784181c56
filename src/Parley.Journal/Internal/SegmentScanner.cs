namespace Parley.Journal;

/// <summary>
/// Reads one segment file from the start, record by record, and says where its valid part
/// ends: at the end of the file, or at the first record that is incomplete (a torn write),
/// fails its checksum, or breaks the id sequence.
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

    public SegmentScanner(string path, int maxPayload)
    {
        _file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
        _maxPayload = maxPayload;
        _buffer = new byte[Math.Max(ChunkSize, maxPayload + JournalFormat.RecordOverhead)];
    }

    /// <summary>The segment's first id from its header; 0 when the header is missing or invalid.</summary>
    public long FirstId { get; private set; }

    /// <summary>Bytes of the file that are valid: header and whole, checked records.</summary>
    public long ValidLength { get; private set; }

    /// <summary>The last valid record's id; FirstId - 1 when there is none.</summary>
    public long LastId { get; private set; }

    /// <summary>Why scanning stopped before the end of the file, or null when it reached the end cleanly.</summary>
    public string? Problem { get; private set; }

    public long FileLength => _file.Length;

    /// <summary>Reads and checks the header. False when the file is shorter than a header or does not start with one.</summary>
    public bool ReadHeader()
    {
        Fill(JournalFormat.SegmentHeaderSize);
        if (!JournalFormat.TryReadSegmentHeader(_buffer.AsSpan(_start, _end - _start), out long firstId))
        {
            Problem = _end - _start < JournalFormat.SegmentHeaderSize ? "segment header incomplete" : "not a journal segment";
            return false;
        }

        FirstId = firstId;
        LastId = firstId - 1;
        _start += JournalFormat.SegmentHeaderSize;
        ValidLength = JournalFormat.SegmentHeaderSize;
        return true;
    }

    /// <summary>The next valid record, or false at the end of the valid part (see <see cref="Problem"/>).
    /// The payload is valid until the next call.</summary>
    public bool TryReadNext(out long id, out long timestampMicros, out ReadOnlyMemory<byte> payload)
    {
        payload = default;
        while (true)
        {
            JournalFormat.ReadStatus status = JournalFormat.TryReadRecord(
                _buffer.AsSpan(_start, _end - _start), _maxPayload, out id, out timestampMicros, out int payloadOffset, out int payloadLength, out int recordLength);
            if (status == JournalFormat.ReadStatus.Ok)
            {
                if (id != LastId + 1)
                {
                    Problem = $"record id {id} where {LastId + 1} was expected";
                    return false;
                }

                payload = _buffer.AsMemory(_start + payloadOffset, payloadLength);
                _start += recordLength;
                ValidLength += recordLength;
                LastId = id;
                return true;
            }

            if (status == JournalFormat.ReadStatus.Corrupt)
            {
                Problem = "record fails its checksum or length check";
                return false;
            }

            if (_eof)
            {
                if (_end > _start)
                {
                    Problem = "record incomplete (torn write)";
                }

                return false;
            }

            Fill(_buffer.Length);
        }
    }

    private void Fill(int wanted)
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _bufferFileOffset += _start;
            _end -= _start;
            _start = 0;
        }

        while (_end < wanted && _end < _buffer.Length)
        {
            int read = _file.Read(_buffer, _end, _buffer.Length - _end);
            if (read == 0)
            {
                _eof = true;
                break;
            }

            _end += read;
        }
    }

    public void Dispose() => _file.Dispose();
}
