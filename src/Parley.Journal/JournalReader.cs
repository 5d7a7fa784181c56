namespace Parley.Journal;

/// <summary>
/// Reads a journal folder without changing it — for tools such as <c>parley journal dump</c>,
/// also while a server appends to it. Damaged records are skipped (reading goes on at the next
/// valid one), records repeated from an earlier segment are read once, and what was wrong is
/// reported to the caller.
/// </summary>
public static class JournalReader
{
    /// <summary>Every valid record with an id of at least <paramref name="fromId"/>, in id order.
    /// Each record's payload is a copy the caller may keep.</summary>
    /// <param name="directory">The journal's folder.</param>
    /// <param name="fromId">The first id wanted; 1 for all.</param>
    /// <param name="maxRecordBytes">The journal's <see cref="JournalOptions.MaxRecordBytes"/>.</param>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    public static IEnumerable<JournalRecord> Read(string directory, long fromId = 1, int maxRecordBytes = 1024 * 1024) =>
        Read(directory, fromId, maxRecordBytes, problems: null);

    /// <summary>
    /// Every valid record with an id of at least <paramref name="fromId"/>, in id order, each once;
    /// when the enumeration ends, <paramref name="problems"/> holds what was wrong with the folder
    /// (see <see cref="Verify"/>).
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    public static IEnumerable<JournalRecord> Read(string directory, long fromId, int maxRecordBytes, ICollection<JournalProblem>? problems)
    {
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"No journal at '{directory}'.");
        }

        return ReadCore(directory, fromId, maxRecordBytes, problems);
    }

    /// <summary>
    /// Reads the whole folder and reports its state: records, id range, and every problem (what
    /// <see cref="Journal.Open"/> would log, refuse or set aside). Changes nothing. When a server
    /// is writing the folder, a newest record still being written can look like a torn tail.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    public static JournalVerification Verify(string directory, int maxRecordBytes = 1024 * 1024)
    {
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"No journal at '{directory}'.");
        }

        var scan = new JournalScan(directory, maxRecordBytes);
        foreach (JournalRecord _ in scan.Read())
        {
            // Counting is all; the scan keeps the figures.
        }

        return new JournalVerification(scan.Segments.Count, scan.Records, scan.FirstId, scan.LastId, scan.Problems);
    }

    private static IEnumerable<JournalRecord> ReadCore(string directory, long fromId, int maxRecordBytes, ICollection<JournalProblem>? problems)
    {
        var scan = new JournalScan(directory, maxRecordBytes);
        foreach (JournalRecord record in scan.Read())
        {
            if (record.Id >= fromId)
            {
                yield return record with { Payload = record.Payload.ToArray() };
            }
        }

        if (problems is not null)
        {
            foreach (JournalProblem problem in scan.Problems)
            {
                problems.Add(problem);
            }
        }
    }

    /// <summary>Whether a journal (in this or another process) has the folder open for writing.</summary>
    public static bool IsInUse(string directory)
    {
        try
        {
            using var probe = new FileStream(Path.Combine(directory, "LOCK"), FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            return false;
        }
        catch (FileNotFoundException)
        {
            return false;
        }
        catch (IOException)
        {
            return true; // locked by its writer
        }
    }

    /// <summary>The segment files of a folder, in id order.</summary>
    internal static string[] Segments(string directory) => JournalScan.SegmentPaths(directory);
}
