namespace Parley;

/// <summary>
/// What happens when a frame would push a connection's send queue past
/// <see cref="ConnectionOptions.MaxSendQueueBytes"/>. Every case is counted
/// (<c>parley.slow_consumer.events</c>) and logged; nothing is dropped silently.
/// </summary>
public enum SlowConsumerPolicy
{
    /// <summary>Close the connection with <see cref="CloseReason.SlowConsumer"/> (default):
    /// a peer that cannot keep up gets a clean error instead of a silent gap.</summary>
    Disconnect,

    /// <summary>Drop queued frames, oldest first, until the new one fits (latest-state feeds).</summary>
    DropOldest,

    /// <summary>Drop the new frame and keep the queue as it is.</summary>
    DropNewest,
}
