namespace Parley.Journal;

/// <summary>
/// The file operations of the journal's write path: open the active segment, create a
/// segment, delete one, sync the folder. <see cref="Default"/> does them on the real file
/// system; tests derive from it to make them fail as a full, size-limited or broken disk does
/// (set through <see cref="JournalOptions.Storage"/>).
/// </summary>
internal class JournalStorage
{
    public static JournalStorage Default { get; } = new();

    /// <summary>Each segment file as the writer will use it: the active one opened by recovery,
    /// and each one a roll creates. Tests return one whose operations fail on demand.</summary>
    public virtual SegmentFile Wrap(SegmentFile file) => file;

    /// <summary>Creates a segment whose first record will be <paramref name="firstId"/> (after <paramref name="previousId"/>): the file,
    /// its header, fsync, and fsync of the folder so the new name survives a power cut. On
    /// failure nothing of it is left behind when the disk allows the delete.</summary>
    public virtual SegmentFile CreateSegment(string path, long firstId, long previousId) => Open(Journal.CreateSegment(path, firstId, previousId, SyncDirectory));

    /// <summary>A segment's stream as the writer's <see cref="SegmentFile"/> (through <see cref="Wrap"/>).</summary>
    public SegmentFile Open(FileStream file)
    {
#pragma warning disable CA2000 // Wrap returns the file, or a view of it that the writer disposes instead.
        return Wrap(new SegmentFile(file));
#pragma warning restore CA2000
    }

    /// <summary>Deletes a segment file (retention, or what a failed roll left).</summary>
    public virtual void Delete(string path) => File.Delete(path);

    /// <summary>Makes the folder's entries (files created or deleted) durable.</summary>
    public virtual void SyncDirectory(string directory) => DirectorySync.Sync(directory);
}
