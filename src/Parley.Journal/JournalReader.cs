namespace Parley.Journal;

/// <summary>
/// Reads a journal folder without changing it — for tools such as <c>parley journal dump</c>,
/// also while a server appends to it. Each segment is read up to its first invalid record.
/// </summary>
public static class JournalReader
{
    /// <summary>Every valid record with an id of at least <paramref name="fromId"/>, in id order.
    /// Each record's payload is a copy the caller may keep.</summary>
    /// <param name="directory">The journal's folder.</param>
    /// <param name="fromId">The first id wanted; 1 for all.</param>
    /// <param name="maxRecordBytes">The journal's <see cref="JournalOptions.MaxRecordBytes"/>.</param>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    public static IEnumerable<JournalRecord> Read(string directory, long fromId = 1, int maxRecordBytes = 1024 * 1024)
    {
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"No journal at '{directory}'.");
        }

        return ReadCore(directory, fromId, maxRecordBytes);
    }

    private static IEnumerable<JournalRecord> ReadCore(string directory, long fromId, int maxRecordBytes)
    {
        foreach (string path in Segments(directory))
        {
            using var scanner = new SegmentScanner(path, maxRecordBytes);
            if (!scanner.ReadHeader())
            {
                continue;
            }

            while (scanner.TryReadNext(out long id, out long micros, out ReadOnlyMemory<byte> payload))
            {
                if (id >= fromId)
                {
                    yield return new JournalRecord(id, JournalFormat.FromMicros(micros), payload.ToArray());
                }
            }
        }
    }

    /// <summary>The segment files of a folder, oldest first (names are zero-padded first ids).</summary>
    internal static string[] Segments(string directory)
    {
        string[] files = Directory.GetFiles(directory, "*" + JournalFormat.SegmentExtension);
        Array.Sort(files, StringComparer.Ordinal);
        return files;
    }
}
