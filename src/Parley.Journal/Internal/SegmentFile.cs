namespace Parley.Journal;

/// <summary>
/// The segment file being appended to, as the writer sees it: write, flush, cut back. Every
/// file operation of the write path goes through here (and <see cref="JournalStorage"/>), so a
/// test can stand in a file whose writes fail as a full or broken disk's do.
/// </summary>
/// <remarks>Used by the writer thread only.</remarks>
internal class SegmentFile : IDisposable
{
    private readonly FileStream _file;

    public SegmentFile(FileStream file) => _file = file;

    /// <summary>Another view of <paramref name="file"/>'s stream, for a derived class that
    /// overrides some operations (a test's failing disk) and passes the rest through.</summary>
    protected SegmentFile(SegmentFile file) => _file = file._file;

    /// <summary>Writes all of <paramref name="data"/> at the current position. On failure part of
    /// it may be in the file (a write that ran out of space half-way).</summary>
    public virtual void Write(ReadOnlySpan<byte> data) => _file.Write(data);

    /// <summary>Flushes to the operating system, and with <paramref name="toDisk"/> to the disk (fsync).</summary>
    public virtual void Flush(bool toDisk) => _file.Flush(toDisk);

    /// <summary>Cuts the file to <paramref name="length"/> bytes, moves the position there and
    /// makes the cut durable: what a failed write left past the last good record goes.</summary>
    public virtual void Truncate(long length)
    {
        _file.SetLength(length);
        _file.Position = length;
        _file.Flush(flushToDisk: true);
    }

    public virtual void Dispose() => _file.Dispose();
}
