namespace Parley.Chat;

/// <summary>
/// What several chat nodes share so that they serve the same rooms (<see cref="ChatServerOptions.Backplane"/>):
/// one log holding every room's messages in one order, whose position is each message's id on
/// every node, and the users each node has in each room. Implemented over an existing distributed
/// engine (Parley.Chat.Nats: NATS JetStream); the chat server itself depends on no engine.
/// </summary>
/// <remarks>
/// Messages are <see cref="ChatRecord"/> payloads. A node stores a message with
/// <see cref="PublishAsync"/> and acknowledges it to its sender only once the log holds it; every
/// node — the sender's included — delivers it to its own members when the log hands it to
/// <see cref="IChatBackplaneHost.OnMessage"/>, in the log's order.
/// </remarks>
public interface IChatBackplane : IAsyncDisposable
{
    /// <summary>This node's name as other nodes and <c>parley cluster status</c> show it.</summary>
    string NodeName { get; }

    /// <summary>
    /// Connects and reads what the log holds (each message to <paramref name="host"/>, oldest
    /// first), returning once it has caught up with the log as it was when called; from then on
    /// hands over each new message, in the log's order, one at a time, and reports the other
    /// nodes' users, until disposed. A lost connection is resumed after the last message handed
    /// over: no gap and no message twice.
    /// </summary>
    /// <exception cref="ChatBackplaneUnavailableException">The engine cannot be reached.</exception>
    Task StartAsync(IChatBackplaneHost host, CancellationToken cancellationToken);

    /// <summary>
    /// Sends a message of <paramref name="room"/> to the log. Completes once it is on its way —
    /// the message of a later call follows it in the log, so a session's messages keep their
    /// order while several are in flight — giving a task that completes with the message's id once
    /// the log holds it (durably, as the engine is set up to keep it).
    /// </summary>
    /// <exception cref="ChatBackplaneUnavailableException">It cannot be sent now (the engine is unreachable); from the task: it was not confirmed stored. <see cref="ChatBackplaneUnavailableException.MayBeStored"/> says whether it may still be.</exception>
    ValueTask<Task<long>> PublishAsync(string room, ReadOnlyMemory<byte> record, CancellationToken cancellationToken);

    /// <summary>
    /// Reads stored messages by id (for history older than what nodes keep in memory), in
    /// ascending order, each to <paramref name="reader"/>; ids no longer kept are skipped.
    /// </summary>
    /// <exception cref="ChatBackplaneUnavailableException">The engine cannot be reached.</exception>
    Task ReadAsync(IReadOnlyList<long> ids, ChatStoredMessageReader reader, CancellationToken cancellationToken);

    /// <summary>The lowest id the log still keeps (retention deletes the oldest); 1 when it never deleted any.</summary>
    long FirstRetainedId { get; }

    /// <summary>
    /// A user of this node entered a room (its first session there on this node) or left it (its
    /// last). Other nodes learn of it through <see cref="IChatBackplaneHost.OnRemotePresence"/>.
    /// </summary>
    void SetPresence(string room, string user, bool present);
}

/// <summary>What a backplane reports to the node it serves.</summary>
public interface IChatBackplaneHost
{
    /// <summary>A message the log holds, in the log's order, one call at a time.</summary>
    void OnMessage(long id, DateTimeOffset timestamp, ReadOnlySpan<byte> record);

    /// <summary>
    /// A user of another node (<paramref name="node"/>, an instance: a restarted node is a new one)
    /// entered a room or left it — or the node went away (shut down, or silent past its deadline)
    /// and took its users with it.
    /// </summary>
    void OnRemotePresence(string node, string room, string user, bool present);

    /// <summary>
    /// The log can no longer deliver here what was stored (it was replaced under this node): sends
    /// confirmed stored but not yet delivered here will never be, so the host must stop waiting for them.
    /// </summary>
    void OnDeliveryStopped(string reason);
}

/// <summary>A stored message read back by <see cref="IChatBackplane.ReadAsync"/>.</summary>
public delegate void ChatStoredMessageReader(long id, DateTimeOffset timestamp, ReadOnlySpan<byte> record);

/// <summary>The backplane cannot take or serve a message now; the client gets an <c>unavailable</c> error and may try again.</summary>
public sealed class ChatBackplaneUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ChatBackplaneUnavailableException()
    {
    }

    /// <summary>Creates the exception with what went wrong.</summary>
    public ChatBackplaneUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with what went wrong and the engine's own error.</summary>
    public ChatBackplaneUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>
    /// The message went out but its confirmation did not come back in time: the engine may still
    /// store (and deliver) it. False when it certainly was not stored (no connection, or refused).
    /// </summary>
    public bool MayBeStored { get; init; }
}
