using Microsoft.Extensions.Logging;

namespace Parley.Journal;

/// <summary>The journal's log messages (event ids 5xx).</summary>
internal static partial class Log
{
    [LoggerMessage(500, LogLevel.Information, "Journal {Directory}: {Segments} segment(s), {Records} record(s) (ids {FirstId}..{LastId}), next id {NextId}, durability {Durability}")]
    public static partial void Opened(ILogger logger, string directory, int segments, long records, long firstId, long lastId, long nextId, JournalDurability durability);

    [LoggerMessage(501, LogLevel.Warning, "Journal segment {Path}: cut a torn tail at byte {ValidLength} ({Cut} bytes, kept in {Aside})")]
    public static partial void TailCut(ILogger logger, string path, long validLength, long cut, string aside);

    [LoggerMessage(502, LogLevel.Error, "Journal damage accepted (AcceptDamage): {Problem}")]
    public static partial void DamageAccepted(ILogger logger, string problem);

    [LoggerMessage(503, LogLevel.Warning, "Journal segment {Path} set aside as {Aside}")]
    public static partial void SetAside(ILogger logger, string path, string aside);

    [LoggerMessage(508, LogLevel.Warning, "Journal: {Problem}")]
    public static partial void Anomaly(ILogger logger, string problem);

    [LoggerMessage(509, LogLevel.Warning, "Journal {Directory}: the newest records may be lost, so ids after {LastId} are skipped: new records start at {NextId} in a new segment")]
    public static partial void IdsSkipped(ILogger logger, string directory, long lastId, long nextId);

    [LoggerMessage(504, LogLevel.Information, "Journal retention: deleted {Path} ({Length} bytes)")]
    public static partial void SegmentDeleted(ILogger logger, string path, long length);

    [LoggerMessage(506, LogLevel.Error, "Journal commit callback for record {Id} threw")]
    public static partial void CallbackFailed(ILogger logger, long id, Exception exception);

    [LoggerMessage(507, LogLevel.Warning, "Journal {Path} is open to other users (mode {Mode}); the messages in it are private: chmod {Wanted} it")]
    public static partial void TooOpen(ILogger logger, string path, string mode, string wanted);
}
