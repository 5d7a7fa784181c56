namespace Parley;

/// <summary>The outcome of <see cref="Connection.Send(ReadOnlySpan{byte})"/>.</summary>
public enum SendStatus
{
    /// <summary>The frame is in the send queue and will be written in order.</summary>
    Queued,

    /// <summary>The queue was full and <see cref="SlowConsumerPolicy.DropNewest"/> dropped this frame.</summary>
    Dropped,

    /// <summary>The queue was full and <see cref="SlowConsumerPolicy.Disconnect"/> closed the connection.</summary>
    SlowConsumerDisconnected,

    /// <summary>The connection is closing or closed; nothing was queued.</summary>
    Closed,
}
