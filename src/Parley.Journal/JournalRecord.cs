namespace Parley.Journal;

/// <summary>One record: its id (1, 2, 3, … in append order), when it was appended, and its payload.</summary>
/// <param name="Id">Monotonically increasing, never reused, starting at 1.</param>
/// <param name="Timestamp">When the record was appended (microsecond precision).</param>
/// <param name="Payload">The bytes appended.</param>
public readonly record struct JournalRecord(long Id, DateTimeOffset Timestamp, ReadOnlyMemory<byte> Payload);

/// <summary>Where an appended record went: its id and timestamp.</summary>
/// <param name="Id">The record's id.</param>
/// <param name="Timestamp">The record's timestamp.</param>
public readonly record struct JournalEntry(long Id, DateTimeOffset Timestamp);
