namespace Parley.Chat;

/// <summary>One stored chat message as history returns it.</summary>
internal sealed record HistoryEntry(long Id, DateTimeOffset Timestamp, string User, string Content);
