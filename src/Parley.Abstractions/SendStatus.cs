namespace Parley;

/// <summary>The outcome of <c>Connection.Send</c>.</summary>
public enum SendStatus
{
    /// <summary>The frame is in the send queue and will be written in order.</summary>
    Queued,

    /// <summary>The queue was full and <c>SlowConsumerPolicy.DropNewest</c> dropped this frame.</summary>
    Dropped,

    /// <summary>The queue was full and <c>SlowConsumerPolicy.Disconnect</c> closed the connection.</summary>
    SlowConsumerDisconnected,

    /// <summary>The connection is closing or closed; nothing was queued.</summary>
    Closed,
}
