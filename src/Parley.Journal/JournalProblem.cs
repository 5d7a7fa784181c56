using System.Globalization;

namespace Parley.Journal;

/// <summary>What kind of damage a journal scan found.</summary>
public enum JournalProblemKind
{
    /// <summary>The newest segment ends in an incomplete or unreadable record with nothing valid after
    /// it: a write cut short by a crash. Such a record was never acknowledged under
    /// <see cref="JournalDurability.Always"/> or <see cref="JournalDurability.Batch"/>. Opening cuts
    /// it off, keeping the cut bytes in a <c>.tail</c> file beside the segment.</summary>
    TornTail,

    /// <summary>Bytes in a segment that are not valid records, with valid records after them (or, in
    /// an older segment, before its end): skipped; the ids they held, if any, are lost.</summary>
    CorruptRecords,

    /// <summary>Ids missing from the sequence (between records or between segments) where nothing
    /// explains them: records lost.</summary>
    MissingRecords,

    /// <summary>A segment's header fails its checksum or is not a journal header; its records are
    /// still read by their own checksums.</summary>
    DamagedHeader,

    /// <summary>A file named as a segment holds no record that can be read: set aside (renamed
    /// <c>.corrupt</c>) when the journal opens.</summary>
    UnreadableSegment,

    /// <summary>A segment the journal had written is not there (the <c>HIGHWATER</c> file names the
    /// oldest and the newest).</summary>
    MissingSegment,

    /// <summary>Records whose ids were already read from an earlier segment (for example a segment
    /// copied under another name): skipped; a segment of nothing else is set aside as <c>.duplicate</c>.</summary>
    DuplicateRecords,

    /// <summary>The <c>HIGHWATER</c> file is damaged or missing while segments exist: a lost newest
    /// segment could go unnoticed, so new ids start a whole reserve block higher.</summary>
    HighWaterMark,
}

/// <summary>One piece of damage found in a journal folder.</summary>
/// <param name="Kind">What it is.</param>
/// <param name="Path">The file it is in.</param>
/// <param name="Offset">The byte offset in the file where it starts (0 when it is about the whole file).</param>
/// <param name="Length">The bytes it covers (0 when none or unknown).</param>
/// <param name="FirstId">The first id it concerns (lost, skipped or duplicated); 0 when none or unknown.</param>
/// <param name="LastId">The last id it concerns; 0 when none or unknown.</param>
/// <param name="LosesData">True when records that may have been acknowledged cannot be read any more.</param>
/// <param name="Detail">A sentence for people: what was found, and what was kept or set aside.</param>
public sealed record JournalProblem(
    JournalProblemKind Kind, string Path, long Offset, long Length, long FirstId, long LastId, bool LosesData, string Detail)
{
    /// <summary>One line: the file, where, what, which ids.</summary>
    public override string ToString()
    {
        var text = new System.Text.StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{Path}");
        if (Offset > 0 || Length > 0)
        {
            text.Append(CultureInfo.InvariantCulture, $" bytes {Offset}..{Offset + Length}");
        }

        text.Append(CultureInfo.InvariantCulture, $": {Detail}");
        if (FirstId > 0)
        {
            text.Append(CultureInfo.InvariantCulture, $" (ids {FirstId}..{(LastId > 0 ? LastId.ToString(CultureInfo.InvariantCulture) : "?")})");
        }

        return text.ToString();
    }
}

/// <summary>
/// The journal holds damage that loses records which may have been acknowledged, and the
/// journal was not opened with <see cref="JournalOptions.AcceptDamage"/>. Nothing was changed on
/// disk. Inspect with <c>parley journal verify</c>; rewrite what survives with
/// <c>parley journal repair</c>, or open anyway with <see cref="JournalOptions.AcceptDamage"/>.
/// </summary>
public sealed class JournalDamagedException : IOException
{
    /// <summary>Creates the exception for <paramref name="problems"/>.</summary>
    public JournalDamagedException(string directory, IReadOnlyList<JournalProblem> problems)
        : base(Describe(directory, problems))
    {
        Directory = directory;
        Problems = problems;
    }

    /// <summary>The journal's folder.</summary>
    public string Directory { get; }

    /// <summary>Everything the scan found (not only what loses data).</summary>
    public IReadOnlyList<JournalProblem> Problems { get; }

    private static string Describe(string directory, IReadOnlyList<JournalProblem> problems)
    {
        var text = new System.Text.StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"The journal in '{directory}' is damaged: records that may have been acknowledged cannot be read.");
        foreach (JournalProblem problem in problems)
        {
            text.Append(Environment.NewLine).Append("  ").Append(problem.LosesData ? "lost: " : "").Append(problem);
        }

        return text.ToString();
    }
}
