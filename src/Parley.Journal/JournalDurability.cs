namespace Parley.Journal;

/// <summary>When an appended record counts as committed (and its commit callback runs).</summary>
public enum JournalDurability
{
    /// <summary>
    /// After the batch it belongs to was written and flushed to disk (fsync). Appends that
    /// arrive while a flush runs form the next batch (group commit). Survives power loss.
    /// </summary>
    Always,

    /// <summary>
    /// After it was written and flushed to disk, with flushes at most every
    /// <see cref="JournalOptions.BatchInterval"/> (default 2 ms): fewer flushes, more records
    /// per flush, a few milliseconds more latency. Survives power loss. The default.
    /// </summary>
    Batch,

    /// <summary>
    /// After it was written to the operating system, without a flush to disk: survives the
    /// process crashing, not the machine losing power.
    /// </summary>
    None,
}
