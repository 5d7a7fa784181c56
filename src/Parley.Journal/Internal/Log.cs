using Microsoft.Extensions.Logging;

namespace Parley.Journal;

/// <summary>The journal's log messages (event ids 5xx).</summary>
internal static partial class Log
{
    [LoggerMessage(500, LogLevel.Information, "Journal {Directory}: {Segments} segment(s), last id {LastId}, durability {Durability}")]
    public static partial void Opened(ILogger logger, string directory, int segments, long lastId, JournalDurability durability);

    [LoggerMessage(501, LogLevel.Warning, "Journal segment {Path}: truncated a torn tail at byte {ValidLength} ({Dropped} bytes dropped): {Problem}")]
    public static partial void TailTruncated(ILogger logger, string path, long validLength, long dropped, string problem);

    [LoggerMessage(502, LogLevel.Error, "Journal segment {Path} is corrupt before its end: kept {ValidLength} bytes, dropped {Dropped}: {Problem}")]
    public static partial void MiddleTruncated(ILogger logger, string path, long validLength, long dropped, string problem);

    [LoggerMessage(503, LogLevel.Warning, "Journal segment {Path} set aside as .corrupt ({Length} bytes): {Problem}")]
    public static partial void SegmentDiscarded(ILogger logger, string path, string problem, long length);

    [LoggerMessage(504, LogLevel.Information, "Journal retention: deleted {Path} ({Length} bytes)")]
    public static partial void SegmentDeleted(ILogger logger, string path, long length);

    [LoggerMessage(506, LogLevel.Error, "Journal commit callback for record {Id} threw")]
    public static partial void CallbackFailed(ILogger logger, long id, Exception exception);

    [LoggerMessage(507, LogLevel.Warning, "Journal {Path} is open to other users (mode {Mode}); the messages in it are private: chmod {Wanted} it")]
    public static partial void TooOpen(ILogger logger, string path, string mode, string wanted);
}
