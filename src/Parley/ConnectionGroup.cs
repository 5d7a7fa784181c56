using System.Buffers;

namespace Parley;

/// <summary>
/// A named set of connections that messages are broadcast to. A broadcast encodes the message
/// once into one pooled, reference-counted <see cref="Frame"/>; every member's send queue holds
/// a reference, and the buffer returns to the pool when the last member has written it. Memory
/// therefore grows with the bytes in flight, not with bytes × members.
/// </summary>
/// <remarks>
/// Members may use different framers — a chat room holds TCP sessions framed by lines and
/// browser sessions framed as WebSocket messages: a broadcast is then encoded once per framer
/// among the members (by reference), each encoding shared by every member that uses it.
/// <para>Thread-safe. Membership operations are O(1). A broadcast iterates a cached snapshot of the
/// members, rebuilt only after membership changed, so steady-state broadcasting allocates
/// nothing. A slow member is handled by its own slow-consumer policy and never stalls the
/// others: enqueueing never waits. A closed connection leaves every group it was in.</para>
/// </remarks>
public sealed class ConnectionGroup
{
    private readonly Lock _lock = new();
    private readonly Dictionary<long, Connection> _members = [];
    private readonly MessageFramer _framer;
    private readonly BufferPool _pool;
    private readonly IReadOnlyList<MessageMiddleware> _middleware;
    private Snapshot? _snapshot;

    /// <summary>
    /// Creates a group outside a <see cref="ParleyServer"/> (a server's own groups come from
    /// <see cref="ParleyServer.GetOrCreateGroup"/>). A broadcast is framed once with
    /// <paramref name="framer"/> for the members that use it, and once more for each other framer
    /// members use.
    /// </summary>
    /// <param name="name">The group's name.</param>
    /// <param name="framer">The members' usual framer.</param>
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
    public IReadOnlyList<Connection> Members => TakeSnapshot().Members;

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
        ReadOnlySpan<byte> encoded = _middleware.Count > 0 ? Internal.MiddlewarePipeline.Encode(_middleware, payload) : payload;
        Snapshot snapshot = TakeSnapshot();
        if (snapshot.Runs is { } runs)
        {
            return BroadcastPerFramer(encoded, snapshot.Members, runs, except);
        }

        Frame frame = _framer.CreateQueuedFrame(encoded, _pool);
        Connection[] members = snapshot.Members;

        // The creation reference becomes the first member's; one atomic add covers the rest.
        if (members.Length == 0)
        {
            frame.ReleaseQueueReference();
            return 0;
        }

        frame.AddQueueReferences(members.Length - 1);
        return Deliver(frame, members, except);
    }

    // Members with several framers: one frame per framer, shared by that framer's members.
    private int BroadcastPerFramer(ReadOnlySpan<byte> payload, Connection[] members, FramerRun[] runs, Connection? except)
    {
        // All or nothing: a payload one of the framers cannot write fails before anyone gets it.
        foreach (FramerRun run in runs)
        {
            run.Framer.ValidatePayload(payload);
        }

        int queued = 0;
        foreach (FramerRun run in runs)
        {
            Frame frame = run.Framer.CreateQueuedFrame(payload, _pool);
            frame.AddQueueReferences(run.Count - 1);
            queued += Deliver(frame, members.AsSpan(run.Start, run.Count), except);
        }

        return queued;
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

    /// <summary>Sends an encoded frame to every member (but <paramref name="except"/>); the caller keeps its reference.
    /// Members that use another framer than the one that made the frame get its payload framed
    /// their way, once for all of them (a constant frame goes to everyone as it is).</summary>
    /// <returns>How many members queued the frame.</returns>
    /// <exception cref="InvalidOperationException">The caller's references to <paramref name="frame"/> were all released already;
    /// or members use another framer and the frame's framer cannot say where its payload lies
    /// (<see cref="MessageFramer.GetPayloadOffset"/>). Nothing is queued then.</exception>
    public int Broadcast(Frame frame, Connection? except = null)
    {
        ArgumentNullException.ThrowIfNull(frame);
        Snapshot snapshot = TakeSnapshot();
        if (snapshot.Runs is not { } runs)
        {
            // One atomic add for all recipients: per-recipient increments would contend with the
            // send loops' releases of the same count on other cores.
            frame.AddQueueReferences(snapshot.Members.Length);
            return Deliver(frame, snapshot.Members, except);
        }

        // All or nothing: a released frame, or one that cannot be framed again for another format,
        // fails before anyone gets it.
        frame.AddQueueReferences(0);
        ReadOnlySpan<byte> payload = default;
        foreach (FramerRun run in runs)
        {
            if (!ReferenceEquals(run.Framer, frame.Framer) && frame.Framer is not null)
            {
                payload = frame.Payload.Span;
                run.Framer.ValidatePayload(payload);
            }
        }

        int queued = 0;
        foreach (FramerRun run in runs)
        {
            Connection[] members = snapshot.Members;
            if (ReferenceEquals(run.Framer, frame.Framer) || frame.Framer is null)
            {
                frame.AddQueueReferences(run.Count);
                queued += Deliver(frame, members.AsSpan(run.Start, run.Count), except);
            }
            else
            {
                // Members of another format get the payload framed their way, once for all of them.
                Frame other = run.Framer.CreateQueuedFrame(payload, _pool);
                other.AddQueueReferences(run.Count - 1);
                queued += Deliver(other, members.AsSpan(run.Start, run.Count), except);
            }
        }

        return queued;
    }

    /// <summary>Queues <paramref name="frame"/> on each member, one queue reference per member already taken.</summary>
    private static int Deliver(Frame frame, ReadOnlySpan<Connection> members, Connection? except)
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

    private Snapshot TakeSnapshot()
    {
        Snapshot? snapshot = Volatile.Read(ref _snapshot);
        if (snapshot is not null)
        {
            return snapshot;
        }

        lock (_lock)
        {
            _snapshot ??= BuildSnapshot();
            return _snapshot;
        }
    }

    // Built once per membership change: members of the group's framer first, then each other
    // framer's members together, so a broadcast walks one run per framer.
    private Snapshot BuildSnapshot()
    {
        Connection[] members = [.. _members.Values];
        if (Array.TrueForAll(members, member => ReferenceEquals(member.Framer, _framer)))
        {
            return new Snapshot(members, null);
        }

        var framers = new List<MessageFramer>();
        foreach (Connection member in members)
        {
            if (!framers.Exists(known => ReferenceEquals(known, member.Framer)))
            {
                framers.Add(member.Framer);
            }
        }

        var ordered = new List<Connection>(members.Length);
        var runs = new FramerRun[framers.Count];
        for (int i = 0; i < framers.Count; i++)
        {
            int start = ordered.Count;
            ordered.AddRange(members.Where(member => ReferenceEquals(member.Framer, framers[i])));
            runs[i] = new FramerRun(framers[i], start, ordered.Count - start);
        }

        return new Snapshot([.. ordered], runs);
    }

    private sealed record Snapshot(Connection[] Members, FramerRun[]? Runs);

    private readonly record struct FramerRun(MessageFramer Framer, int Start, int Count);

    /// <inheritdoc />
    public override string ToString() => $"{Name} ({Count})";
}
