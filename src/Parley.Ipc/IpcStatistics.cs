namespace Parley.Ipc;

/// <summary>Counters of one side of an <see cref="IpcChannel"/>.</summary>
/// <param name="MessagesSent">Messages written.</param>
/// <param name="BytesSent">Payload bytes written.</param>
/// <param name="MessagesReceived">Messages read.</param>
/// <param name="BytesReceived">Payload bytes read.</param>
/// <param name="Sleeps">Times this side slept on its futex (after spinning, if the strategy spins).</param>
/// <param name="WakeupsSent">Futex wake-ups sent to a sleeping peer.</param>
public readonly record struct IpcStatistics(long MessagesSent, long BytesSent, long MessagesReceived, long BytesReceived, long Sleeps, long WakeupsSent);
