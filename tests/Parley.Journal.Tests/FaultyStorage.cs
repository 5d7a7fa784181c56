namespace Parley.Journal.Tests;

/// <summary>
/// The journal's real files behind the writer's own seam (<see cref="JournalStorage"/>), with
/// operations that throw on demand what a full, size-limited or broken disk makes .NET throw.
/// Faults are set and cleared by the test while the writer runs.
/// </summary>
internal sealed class FaultyStorage : JournalStorage
{
    private volatile Exception? _writeFault;
    private volatile Exception? _flushFault;
    private volatile Exception? _truncateFault;
    private volatile Exception? _createFault;
    private volatile Exception? _deleteFault;
    private volatile Exception? _syncFault;
    private int _writes;
    private int _creates;
    private int _syncs;

    /// <summary>What <see cref="SegmentFile.Write"/> throws, after putting the first half of its bytes in the file (a write that ran out of room half-way).</summary>
    public Exception? WriteFault { get => _writeFault; set => _writeFault = value; }

    /// <summary>What an fsync throws, after the write put every byte in the file.</summary>
    public Exception? FlushFault { get => _flushFault; set => _flushFault = value; }

    /// <summary>What cutting a segment back throws.</summary>
    public Exception? TruncateFault { get => _truncateFault; set => _truncateFault = value; }

    /// <summary>What creating a segment throws, after the file was created (and left there, as when the disk refuses its delete too).</summary>
    public Exception? CreateFault { get => _createFault; set => _createFault = value; }

    /// <summary>What deleting a file throws.</summary>
    public Exception? DeleteFault { get => _deleteFault; set => _deleteFault = value; }

    /// <summary>What an fsync of the folder throws.</summary>
    public Exception? SyncFault { get => _syncFault; set => _syncFault = value; }

    /// <summary>Calls of <see cref="SegmentFile.Write"/>: how often the journal tried the disk.</summary>
    public int Writes => Volatile.Read(ref _writes);

    public int Creates => Volatile.Read(ref _creates);

    public int Syncs => Volatile.Read(ref _syncs);

    /// <summary>The exception .NET throws for an errno, as seen from FileStream on Linux.</summary>
    public static Exception Errno(string name) => name switch
    {
        "ENOSPC" => new IOException("No space left on device : '/data/journal/00000000000000000001.seg'", 28),
        "EFBIG" => FileTooLarge(),
        "EIO" => new IOException("Input/output error : '/data/journal/00000000000000000001.seg'", 5),
        "EROFS" => new IOException("Read-only file system : '/data/journal/00000000000000000001.seg'", 30),
        "EACCES" => new UnauthorizedAccessException("Access to the path '/data/journal/00000000000000000001.seg' is denied."),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "unknown errno"),
    };

    /// <summary>What FileStream throws for EFBIG (a write past RLIMIT_FSIZE): not an IOException.</summary>
#pragma warning disable CA2208 // "value" is what the runtime names it in this exception
    private static ArgumentOutOfRangeException FileTooLarge() => new("value", "Specified file length was too large for the file system.");
#pragma warning restore CA2208

    public override SegmentFile Wrap(SegmentFile file) => new FaultyFile(this, file);

    public override SegmentFile CreateSegment(string path, long firstId, long previousId)
    {
        Interlocked.Increment(ref _creates);
        SegmentFile file = base.CreateSegment(path, firstId, previousId);
        if (_createFault is { } fault)
        {
            file.Dispose();
            throw fault;
        }

        return file;
    }

    public override void Delete(string path)
    {
        if (_deleteFault is { } fault)
        {
            throw fault;
        }

        base.Delete(path);
    }

    public override void SyncDirectory(string directory)
    {
        Interlocked.Increment(ref _syncs);
        if (_syncFault is { } fault)
        {
            throw fault;
        }

        base.SyncDirectory(directory);
    }

    private sealed class FaultyFile(FaultyStorage owner, SegmentFile file) : SegmentFile(file)
    {
        public override void Write(ReadOnlySpan<byte> data)
        {
            Interlocked.Increment(ref owner._writes);
            if (owner._writeFault is { } fault)
            {
                base.Write(data[..(data.Length / 2)]);
                throw fault;
            }

            base.Write(data);
        }

        public override void Flush(bool toDisk)
        {
            if (toDisk && owner._flushFault is { } fault)
            {
                throw fault;
            }

            base.Flush(toDisk);
        }

        public override void Truncate(long length)
        {
            if (owner._truncateFault is { } fault)
            {
                throw fault;
            }

            base.Truncate(length);
        }
    }
}
