using Microsoft.Extensions.Logging;

namespace Parley.Journal;

/// <summary>The journal's log messages about disk faults on the write path (event ids 520–529).</summary>
internal static partial class Log
{
    [LoggerMessage(520, LogLevel.Warning, "Journal {Directory}: a write failed; records are refused (not stored) until the disk takes them again, tried again in {RetryIn} and then at most every {MaxRetry}")]
    public static partial void WriteFailing(ILogger logger, string directory, TimeSpan retryIn, TimeSpan maxRetry, Exception exception);

    [LoggerMessage(521, LogLevel.Warning, "Journal {Directory}: writes still failing after {Duration} ({Error}); {Refused} record(s) refused so far, next try in {RetryIn} ({Suppressed} such lines held back before this one)")]
    public static partial void StillFailing(ILogger logger, string directory, TimeSpan duration, string error, long refused, TimeSpan retryIn, long suppressed);

    [LoggerMessage(522, LogLevel.Information, "Journal {Directory}: writing again after {Duration} of failures; {Refused} record(s) were refused meanwhile")]
    public static partial void WritingAgain(ILogger logger, string directory, TimeSpan duration, long refused);

    [LoggerMessage(523, LogLevel.Warning, "Journal {Path}: could not cut back to {Length} bytes after a failed write ({Error}); nothing is appended until the cut succeeds (tried before each write)")]
    public static partial void CutBackFailed(ILogger logger, string path, long length, string error);

    [LoggerMessage(524, LogLevel.Warning, "Journal {Path}: {Operation} failed ({Error}); tried again later")]
    public static partial void FileOperationFailed(ILogger logger, string path, string operation, string error);

    [LoggerMessage(525, LogLevel.Critical, "Journal {Directory}: the writer stopped on an unexpected error; no more records are accepted")]
    public static partial void WriterFailed(ILogger logger, string directory, Exception exception);
}
