using System.Globalization;

namespace Parley.Journal;

/// <summary>
/// The <c>DAMAGE-ACCEPTED</c> file: damage an operator accepted once (<see cref="JournalOptions.AcceptDamage"/>),
/// one line per problem (kind, file, bytes, ids). Damage that stays in the files — a record
/// skipped mid-segment, ids missing between segments — is then logged at each open but no longer
/// refused, so <c>--accept-journal-damage</c> need not stay on (which would also accept new damage).
/// </summary>
internal static class AcceptedDamage
{
    public const string FileName = "DAMAGE-ACCEPTED";

    public static string Key(JournalProblem problem) => string.Create(
        CultureInfo.InvariantCulture,
        $"{problem.Kind} {Path.GetFileName(problem.Path)} {problem.Offset} {problem.Length} {problem.FirstId} {problem.LastId}");

    public static HashSet<string> Read(string directory)
    {
        try
        {
            return [.. File.ReadAllLines(Path.Combine(directory, FileName)).Where(line => line.Length > 0)];
        }
        catch (FileNotFoundException)
        {
            return [];
        }
    }

    /// <summary>Adds what is not yet listed (the file is replaced atomically).</summary>
    public static void Add(string directory, HashSet<string> accepted, IEnumerable<JournalProblem> problems)
    {
        string[] added = [.. problems.Select(Key).Where(accepted.Add)];
        if (added.Length == 0)
        {
            return;
        }

        string path = Path.Combine(directory, FileName);
        string temporary = path + ".tmp";
        using (var file = new FileStream(temporary, JournalFiles.Options(FileMode.Create, FileAccess.Write, FileShare.None)))
        using (var writer = new StreamWriter(file))
        {
            foreach (string line in accepted)
            {
                writer.WriteLine(line);
            }

            writer.Flush();
            file.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
        DirectorySync.Sync(directory);
    }
}
