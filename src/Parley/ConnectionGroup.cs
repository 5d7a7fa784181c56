using System.Buffers;

namespace Parley;

/// <summary>
/// A named set of connections that messages are broadcast to. A broadcast encodes the message
/// once into one pooled, reference-counted <see cref="Frame"/>; every member's send queue holds
/// a reference, and the buffer returns to the pool when the last member has written it. Memory
/// therefore grows with the bytes in flight, not with bytes × members.
/// </summary>
/// <remarks>
/// Thread-safe. Membership operations are O(1). A broadcast iterates a cached snapshot of the
/// members, rebuilt only after membership changed, so steady-state broadcasting allocates
/// nothing. A slow member is handled by its own slow-consumer policy and never stalls the
/// others: enqueueing never waits. A closed connection leaves every group it was in.
/// </remarks>
public sealed class ConnectionGroup
{
    private readonly Lock _lock = new();
    private readonly Dictionary<long, Connection> _members = [];
    private readonly MessageFramer _framer;
    private readonly BufferPool _pool;
    private readonly IReadOnlyList<MessageMiddleware> _middleware;
    private Connection[]? _snapshot;

    /// <summary>
    /// Creates a group outside a <see cref="ParleyServer"/> (a server's own groups come from
    /// <see cref="ParleyServer.GetOrCreateGroup"/>). Members must use <paramref name="framer"/>:
    /// a broadcast is framed once, with it, for all of them.
    /// </summary>
    /// <param name="name">The group's name.</param>
    /// <param name="framer">The members' framer.</param>
    /// <param name="pool">Where broadcast frames are rented; <see cref="BufferPool.Shared"/> when null.</param>
    /// <param name="middleware">The members' <see cref="ConnectionOptions.Middleware"/>, run once per broadcast; none when null.</param>
    public ConnectionGroup(string name, MessageFramer framer, BufferPool? pool = null, IReadOnlyList<MessageMiddleware>? middleware = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(framer);
        pool ??= BufferPool.Shared;
        Name = name;
        _framer = framer;
        _pool = pool;
        _middleware = middleware ?? [];
    }

    /// <summary>The group's name.</summary>
    public string Name { get; }

    /// <summary>Members now.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _members.Count;
            }
        }
    }

    /// <summary>A snapshot of the members.</summary>
    public IReadOnlyList<Connection> Members => Snapshot();

    /// <summary>Adds a connection; false when it is already a member or is not open.</summary>
    public bool Add(Connection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (connection.State != ConnectionState.Open || !connection.TrackGroup(this))
        {
            return false;
        }

        lock (_lock)
        {
            if (!_members.TryAdd(connection.Id, connection))
            {
                return false;
            }

            _snapshot = null;
        }

        // Closed while joining (it left its groups before we added it): undo, so a closed
        // connection is never left behind.
        if (connection.IsFinalized)
        {
            Remove(connection);
            return false;
        }

        return true;
    }

    /// <summary>Removes a connection; false when it was not a member.</summary>
    public bool Remove(Connection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        connection.UntrackGroup(this);
        return RemoveMember(connection);
    }

    /// <summary>True when the connection is a member.</summary>
    public bool Contains(Connection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        lock (_lock)
        {
            return _members.ContainsKey(connection.Id);
        }
    }

    /// <summary>
    /// Sends <paramref name="payload"/> to every member (but <paramref name="except"/>),
    /// encoding it once. Never blocks; each member's send queue and slow-consumer policy apply.
    /// </summary>
    /// <returns>How many members queued the message.</returns>
    public int Broadcast(ReadOnlySpan<byte> payload, Connection? except = null)
    {
        // Transforms are per message, not per connection: run them once for everyone.
        Frame frame = _framer.CreateQueuedFrame(_middleware.Count > 0 ? Internal.MiddlewarePipeline.Encode(_middleware, payload) : payload, _pool);
        Connection[] members = Snapshot();

        // The creation reference becomes the first member's; one atomic add covers the rest.
        if (members.Length == 0)
        {
            frame.ReleaseQueueReference();
            return 0;
        }

        frame.AddQueueReferences(members.Length - 1);
        return Deliver(frame, members, except);
    }

    /// <summary>Broadcasts a received message (or any sequence), as <see cref="Broadcast(ReadOnlySpan{byte}, Connection?)"/>.</summary>
    public int Broadcast(in ReadOnlySequence<byte> payload, Connection? except = null)
    {
        if (payload.IsSingleSegment)
        {
            return Broadcast(payload.FirstSpan, except);
        }

        int length = checked((int)payload.Length);
        byte[] gathered = _pool.Rent(length);
        try
        {
            payload.CopyTo(gathered);
            return Broadcast(gathered.AsSpan(0, length), except);
        }
        finally
        {
            _pool.Return(gathered);
        }
    }

    /// <summary>Sends an encoded frame to every member (but <paramref name="except"/>); the caller keeps its reference.</summary>
    /// <returns>How many members queued the frame.</returns>
    /// <exception cref="InvalidOperationException">The caller's references to <paramref name="frame"/> were all released already.</exception>
    public int Broadcast(Frame frame, Connection? except = null)
    {
        ArgumentNullException.ThrowIfNull(frame);
        Connection[] members = Snapshot();

        // One atomic add for all recipients: per-recipient increments would contend with the
        // send loops' releases of the same count on other cores.
        frame.AddQueueReferences(members.Length);
        return Deliver(frame, members, except);
    }

    /// <summary>Queues <paramref name="frame"/> on each member, one queue reference per member already taken.</summary>
    private static int Deliver(Frame frame, Connection[] members, Connection? except)
    {
        int queued = 0;
        foreach (Connection member in members)
        {
            if (ReferenceEquals(member, except))
            {
                frame.ReleaseQueueReference();
            }
            else if (member.SendReferenced(frame) == SendStatus.Queued)
            {
                queued++;
            }
        }

        return queued;
    }

    internal bool RemoveMember(Connection connection)
    {
        lock (_lock)
        {
            if (!_members.Remove(connection.Id))
            {
                return false;
            }

            _snapshot = null;
            return true;
        }
    }

    private Connection[] Snapshot()
    {
        Connection[]? snapshot = Volatile.Read(ref _snapshot);
        if (snapshot is not null)
        {
            return snapshot;
        }

        lock (_lock)
        {
            _snapshot ??= [.. _members.Values];
            return _snapshot;
        }
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name} ({Count})";
}
