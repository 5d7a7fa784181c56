namespace Parley.Journal;

/// <summary>What <see cref="JournalReader.Verify"/> found in a journal folder.</summary>
/// <param name="Segments">Segment files read (readable or not).</param>
/// <param name="Records">Valid records, each id counted once.</param>
/// <param name="FirstId">The lowest id; 0 when there is no record.</param>
/// <param name="LastId">The highest id; 0 when there is no record.</param>
/// <param name="Problems">Everything wrong, in file order; empty for a clean journal.</param>
public sealed record JournalVerification(int Segments, long Records, long FirstId, long LastId, IReadOnlyList<JournalProblem> Problems)
{
    /// <summary>Nothing is wrong.</summary>
    public bool Clean => Problems.Count == 0;

    /// <summary>Some damage loses records that may have been acknowledged: <see cref="Journal.Open"/> refuses it unless accepted.</summary>
    public bool LosesData => Problems.Any(p => p.LosesData);
}
