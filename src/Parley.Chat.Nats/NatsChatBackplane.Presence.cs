using NATS.Client.Core;

namespace Parley.Chat.Nats;

/// <summary>
/// Presence across nodes, on core NATS (<c>PREFIX.nodes</c>): each node's set of (room, user)
/// pairs, versioned. A change goes out as a delta with the version it makes; a heartbeat carries
/// the current version. A node that sees a version it cannot reach by the deltas it has (one was
/// lost, or it is new) asks that node for its whole set (<c>PREFIX.nodes.snapshot.INSTANCE</c>,
/// in pages) and replaces what it held. A node silent past the timeout, or one that says goodbye,
/// is dropped with its users.
/// </summary>
public sealed partial class NatsChatBackplane
{
    private const int SnapshotPage = 400; // pairs a page: 400 of the longest names, escaped, stay well under NATS's 1 MB message limit

    /// <summary>Other nodes held at once: past it a new instance is ignored until one goes (the bus is shared; a flood of made-up nodes must not grow memory).</summary>
    internal const int MaxRemoteNodes = 256;

    /// <summary>(room, user) pairs taken from one node: a snapshot larger than this is refused.</summary>
    internal const int MaxEntriesPerNode = 500_000;

    /// <summary>Snapshots asked for at once (one per node at most); each is bounded by <see cref="SyncDeadline"/> and its 2 s request timeout.</summary>
    private const int ConcurrentSyncs = MaxRemoteNodes; // one per node: a node that never answers must not queue the real ones behind it

    private static readonly TimeSpan SyncDeadline = TimeSpan.FromSeconds(30);
    private readonly SemaphoreSlim _syncs = new(ConcurrentSyncs, ConcurrentSyncs);
    private readonly CancellationTokenSource _beats = new(); // the heartbeats' own: stopped before the goodbye
    private readonly LogRateLimiter _peerLog; // lines other nodes (or something posing as one) can provoke

    private readonly Lock _localLock = new();
    // Counted, not a set: the host's "first here"/"last here" calls for one pair can reach this in
    // either order (a session leaving while another of the same user joins), and only the count's
    // moves between 0 and 1 are changes to announce.
    private readonly Dictionary<(string Room, string User), int> _local = [];
    private readonly List<(long Version, (string Room, string User)[] Entries)> _frozen = []; // snapshots served, newest last
    private long _version;
    private readonly Lock _remoteLock = new();
    private readonly Dictionary<string, RemoteNode> _remote = new(StringComparer.Ordinal);
    private INatsSub<NatsMemoryOwner<byte>>? _presenceSub;
    private INatsSub<NatsMemoryOwner<byte>>? _snapshotSub;
    private Task _presence = Task.CompletedTask;
    private Task _snapshots = Task.CompletedTask;
    private Task _heartbeats = Task.CompletedTask;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> _addressesHeard = new(StringComparer.OrdinalIgnoreCase);

    private string NodesSubject => $"{_options.SubjectPrefix}.nodes";

    /// <summary>
    /// Every address another node has announced since this one started (at most 1000), kept after
    /// the node is gone: a browser page loaded from a node that died may still move to this one.
    /// </summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, byte> AddressesHeard => _addressesHeard;

    private string SnapshotSubject(string instance) => $"{_options.SubjectPrefix}.nodes.snapshot.{instance}";

    /// <summary>The other nodes this one hears from now (for status and tests).</summary>
    public IReadOnlyList<NatsNodeInfo> RemoteNodes
    {
        get
        {
            lock (_remoteLock)
            {
                return [.. _remote.Values.Select(n => n.Describe(_time))];
            }
        }
    }

    /// <inheritdoc/>
    public void SetPresence(string room, string user, bool present)
    {
        lock (_localLock)
        {
            ref int count = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_local, (room, user), out _);
            count += present ? 1 : -1;
            bool changed = present ? count == 1 : count == 0;
            if (count <= 0)
            {
                _local.Remove((room, user));
            }

            if (!changed)
            {
                return;
            }

            long version = ++_version;
            if (_presenceSub is null || Volatile.Read(ref _disposed) != 0)
            {
                return; // not started (the first heartbeat's version makes the others ask for the whole set), or stopped
            }

            try
            {
                // Started under the lock, so deltas leave in version order (a lost one is healed by the next heartbeat).
                Observe(_nats.PublishAsync(NodesSubject, PresenceMessage.Delta(_instance, _options.NodeName, version, room, user, present)));
            }
            catch (Exception ex) when (ex is NatsException or ObjectDisposedException)
            {
                Log.PresenceSendFailed(_logger, ex.Message);
            }
        }
    }

    private async Task StartPresenceAsync(CancellationToken cancellationToken)
    {
        // NATS.Net ends a subscription when the token it was made with is cancelled: the start's
        // deadline bounds only the asking, not the subscription's life.
        _presenceSub = await _nats.SubscribeCoreAsync<NatsMemoryOwner<byte>>(NodesSubject, cancellationToken: CancellationToken.None).AsTask().WaitAsync(cancellationToken).ConfigureAwait(false);
        _snapshotSub = await _nats.SubscribeCoreAsync<NatsMemoryOwner<byte>>(SnapshotSubject(_instance), cancellationToken: CancellationToken.None).AsTask().WaitAsync(cancellationToken).ConfigureAwait(false);
        _presence = Task.Run(ReadPresenceAsync, CancellationToken.None);
        _snapshots = Task.Run(AnswerSnapshotsAsync, CancellationToken.None);
        _heartbeats = Task.Run(HeartbeatAsync, CancellationToken.None);
    }

    private async Task StopPresenceAsync()
    {
        if (_presenceSub is null)
        {
            return;
        }

        // The beats stop first: one sent after the goodbye would bring this node back as a ghost.
        await _beats.CancelAsync().ConfigureAwait(false);
        try
        {
            await _heartbeats.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        try
        {
            if (_nats.ConnectionState == NatsConnectionState.Open)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await _nats.PublishAsync(NodesSubject, PresenceMessage.Goodbye(_instance, _options.NodeName), cancellationToken: timeout.Token).ConfigureAwait(false);
                await _nats.PingAsync(timeout.Token).ConfigureAwait(false); // the goodbye has reached the server
            }
        }
        catch (Exception ex) when (ex is NatsException or OperationCanceledException)
        {
            // The others drop this node when its heartbeats stop.
        }

        await _presenceSub.DisposeAsync().ConfigureAwait(false);
        if (_snapshotSub is not null)
        {
            await _snapshotSub.DisposeAsync().ConfigureAwait(false);
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        foreach (Task task in new[] { _presence, _snapshots })
        {
            try
            {
                await task.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    private void Observe(ValueTask publishing)
    {
        if (publishing.IsCompletedSuccessfully)
        {
            return;
        }

        _ = ObserveAsync(publishing);

        async Task ObserveAsync(ValueTask task)
        {
            try
            {
                await task.ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Log.PresenceSendFailed(_logger, ex.Message);
            }
        }
    }

    /// <summary>Every heartbeat interval: say this node is alive, refresh the stream's bounds, drop nodes gone silent.</summary>
    private async Task HeartbeatAsync()
    {
        CancellationToken stop = _beats.Token;
        Task refreshing = Task.CompletedTask;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (_nats.ConnectionState == NatsConnectionState.Open)
                {
                    long version;
                    int users;
                    lock (_localLock)
                    {
                        version = _version;
                        users = _local.Count;
                    }

                    await _nats.PublishAsync(NodesSubject, PresenceMessage.Heartbeat(_instance, _options.NodeName, version, users, DeliveredSequence, Lag, _options.Addresses), cancellationToken: stop).ConfigureAwait(false);

                    // Beside the heartbeats, not in their way: a JetStream that is slow to answer must
                    // not make this node miss beats and look dead to the others.
                    if (refreshing.IsCompleted)
                    {
                        refreshing = RefreshStreamAsync(stop);
                    }
                }

                DropSilentNodes();
                await Task.Delay(_options.HeartbeatInterval, _time, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                Log.PresenceSendFailed(_logger, ex.Message);
                await Task.Delay(_options.HeartbeatInterval, _time, stop).ConfigureAwait(false);
            }
        }
    }

    private void DropSilentNodes()
    {
        List<RemoteNode>? gone = null;
        lock (_remoteLock)
        {
            foreach (RemoteNode node in _remote.Values)
            {
                if (_time.GetElapsedTime(node.LastHeard) > _options.NodeTimeout)
                {
                    (gone ??= []).Add(node);
                }
            }

            if (gone is not null)
            {
                foreach (RemoteNode node in gone)
                {
                    _remote.Remove(node.Instance);
                    if (_peerLog.TryTake(out long heldBack))
                    {
                        Log.NodeSilent(_logger, node.Instance, _options.NodeTimeout.TotalSeconds, node.Entries.Count, heldBack);
                    }

                    ReplaceEntries(node, []);
                }
            }
        }
    }

    private async Task ReadPresenceAsync()
    {
        CancellationToken stop = _stop.Token;
        try
        {
            await foreach (NatsMsg<NatsMemoryOwner<byte>> msg in _presenceSub!.Msgs.ReadAllAsync(stop).ConfigureAwait(false))
            {
                PresenceMessage message;
                using (NatsMemoryOwner<byte> data = msg.Data)
                {
                    if (!PresenceMessage.TryRead(data.Memory.Span, out message) || message.Instance == _instance)
                    {
                        continue;
                    }
                }

                try
                {
                    OnPresence(message);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    if (_peerLog.TryTake(out long heldBack))
                    {
                        Log.PresenceFailed(_logger, message.Instance, ex.Message, heldBack);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    /// <summary>One message from another node, on the presence reader: never waits (snapshots are fetched beside it).</summary>
    private void OnPresence(PresenceMessage message)
    {
        lock (_remoteLock)
        {
            if (message.Kind == PresenceKind.Goodbye)
            {
                if (_remote.Remove(message.Instance, out RemoteNode? gone))
                {
                    if (_peerLog.TryTake(out long heldBack))
                    {
                        Log.NodeLeft(_logger, gone.Instance, gone.Entries.Count, heldBack);
                    }

                    ReplaceEntries(gone, []);
                }

                return;
            }

            if (!_remote.TryGetValue(message.Instance, out RemoteNode? node))
            {
                if (_remote.Count >= MaxRemoteNodes)
                {
                    return; // full: a real node is heard again once a made-up one times out
                }

                node = new RemoteNode(message.Instance, message.Name, _time.GetTimestamp());
                _remote.Add(message.Instance, node);
                if (_peerLog.TryTake(out long heldBack))
                {
                    Log.NodeJoined(_logger, message.Instance, heldBack);
                }
            }

            node.LastHeard = _time.GetTimestamp();
            bool resync;
            if (message.Kind == PresenceKind.Heartbeat)
            {
                node.Delivered = message.Delivered;
                node.Lag = message.Lag;
                node.Users = message.Users;
                node.Addresses = message.Addresses;
                foreach (string address in (message.Addresses ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    if (_addressesHeard.Count < 1000)
                    {
                        _addressesHeard.TryAdd(address, 0);
                    }
                }

                resync = message.Version > node.Version; // lower: a beat that a delta overtook
            }
            else if (node.Syncing)
            {
                // Kept until the snapshot lands, then those past its version are applied in order.
                if (node.Held.Count < MaxEntriesPerNode)
                {
                    node.Held.Add((message.Version, message.Room!, message.User!, message.Present));
                }

                resync = false;
            }
            else if (node.Version >= 0 && message.Version == node.Version + 1)
            {
                node.Version = message.Version;
                bool changed = message.Present
                    ? node.Entries.Count < MaxEntriesPerNode && node.Entries.Add((message.Room!, message.User!))
                    : node.Entries.Remove((message.Room!, message.User!));
                if (changed)
                {
                    _host!.OnRemotePresence(node.Instance, message.Room!, message.User!, message.Present);
                }

                resync = false;
            }
            else
            {
                resync = message.Version > node.Version;
            }

            if (resync)
            {
                StartSync(node);
            }
        }
    }

    /// <summary>
    /// Under the remote lock: fetches a node's whole set beside the reader (so a node that is slow
    /// to answer, or never does, cannot hold up the others' heartbeats), one at a time per node,
    /// at most once a heartbeat interval per node and <see cref="ConcurrentSyncs"/> at once.
    /// </summary>
    private void StartSync(RemoteNode node)
    {
        if (node.Syncing || (node.LastSync != 0 && _time.GetElapsedTime(node.LastSync) < _options.HeartbeatInterval))
        {
            return;
        }

        node.Syncing = true;
        node.LastSync = _time.GetTimestamp();
        CancellationToken stop = _stop.Token;
        _ = Task.Run(
            async () =>
            {
                try
                {
                    await _syncs.WaitAsync(stop).ConfigureAwait(false);
                    try
                    {
                        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(stop);
                        deadline.CancelAfter(SyncDeadline);
                        await SyncAsync(node, deadline.Token).ConfigureAwait(false);
                    }
                    finally
                    {
                        _syncs.Release();
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !stop.IsCancellationRequested)
                {
                    if (_peerLog.TryTake(out long heldBack))
                    {
                        Log.PresenceFailed(_logger, node.Instance, ex.Message, heldBack);
                    }
                }
                catch (OperationCanceledException)
                {
                    // Stopping.
                }
                finally
                {
                    lock (_remoteLock)
                    {
                        node.Syncing = false;
                        node.Held.Clear();
                    }
                }
            },
            CancellationToken.None);
    }

    /// <summary>Asks a node for its whole set, page by page, and takes it in place of what was held.</summary>
    private async Task SyncAsync(RemoteNode node, CancellationToken cancellationToken)
    {
        var entries = new HashSet<(string, string)>();
        long version = -1;
        int offset = 0;
        while (true)
        {
            NatsMsg<NatsMemoryOwner<byte>> reply = await _nats.RequestAsync<byte[], NatsMemoryOwner<byte>>(
                SnapshotSubject(node.Instance),
                PresenceMessage.SnapshotRequest(offset, version),
                replyOpts: new NatsSubOpts { Timeout = TimeSpan.FromSeconds(2) },
                cancellationToken: cancellationToken).ConfigureAwait(false);
            using NatsMemoryOwner<byte> data = reply.Data;
            int before = entries.Count;
            if (!PresenceMessage.TryReadSnapshot(data.Memory.Span, entries, out long pageVersion, out int next))
            {
                return;
            }

            if (version >= 0 && pageVersion != version)
            {
                return; // it changed between pages: the next heartbeat asks again
            }

            if (entries.Count > MaxEntriesPerNode || (next >= 0 && (next <= offset || entries.Count == before)))
            {
                // More than any node holds, or pages that go nowhere: not a node of ours.
                if (_peerLog.TryTake(out long heldBack))
                {
                    Log.SnapshotRefused(_logger, node.Instance, entries.Count, heldBack);
                }

                return;
            }

            version = pageVersion;
            if (next < 0)
            {
                break;
            }

            offset = next;
        }

        lock (_remoteLock)
        {
            if (!_remote.TryGetValue(node.Instance, out RemoteNode? current) || current != node || version < node.Version)
            {
                return; // gone meanwhile, or newer deltas came
            }

            node.Version = version;
            ReplaceEntries(node, entries);

            // The changes that came while the pages did: the ones after the snapshot, in order.
            foreach ((long heldVersion, string room, string user, bool present) in node.Held.OrderBy(h => h.Version))
            {
                if (heldVersion != node.Version + 1)
                {
                    continue; // at or below the snapshot (in it already), or past a gap (the next beat asks again)
                }

                node.Version = heldVersion;
                bool changed = present ? node.Entries.Count < MaxEntriesPerNode && node.Entries.Add((room, user)) : node.Entries.Remove((room, user));
                if (changed)
                {
                    _host!.OnRemotePresence(node.Instance, room, user, present);
                }
            }

            node.Held.Clear();
        }
    }

    /// <summary>Under the remote lock: a node's set becomes <paramref name="entries"/>; the host hears each pair that came or went.</summary>
    private void ReplaceEntries(RemoteNode node, HashSet<(string Room, string User)> entries)
    {
        foreach ((string room, string user) in node.Entries)
        {
            if (!entries.Contains((room, user)))
            {
                _host!.OnRemotePresence(node.Instance, room, user, present: false);
            }
        }

        foreach ((string room, string user) in entries)
        {
            if (!node.Entries.Contains((room, user)))
            {
                _host!.OnRemotePresence(node.Instance, room, user, present: true);
            }
        }

        node.Entries.Clear();
        node.Entries.UnionWith(entries);
    }

    private async Task AnswerSnapshotsAsync()
    {
        CancellationToken stop = _stop.Token;
        try
        {
            await foreach (NatsMsg<NatsMemoryOwner<byte>> msg in _snapshotSub!.Msgs.ReadAllAsync(stop).ConfigureAwait(false))
            {
                int offset;
                long asked;
                using (NatsMemoryOwner<byte> data = msg.Data)
                {
                    if (!PresenceMessage.TryReadSnapshotRequest(data.Memory.Span, out offset, out asked))
                    {
                        continue;
                    }
                }

                (string Room, string User)[] page;
                long version;
                int next;
                lock (_localLock)
                {
                    // Pages come from one frozen, sorted copy per version (the last few are kept), so
                    // a node asking page after page gets one consistent set however fast users come
                    // and go meanwhile; the deltas after that version bring it up to date.
                    (string Room, string User)[]? all = null;
                    if (offset > 0)
                    {
                        foreach ((long frozenVersion, (string Room, string User)[] entries) in _frozen)
                        {
                            if (frozenVersion == asked)
                            {
                                all = entries;
                            }
                        }
                    }

                    if (all is null)
                    {
                        if (_frozen.Count > 0 && _frozen[^1].Version == _version)
                        {
                            all = _frozen[^1].Entries;
                        }
                        else
                        {
                            all = [.. _local.Keys];
                            Array.Sort(all, static (a, b) => string.CompareOrdinal(a.Room, b.Room) is int c and not 0 ? c : string.CompareOrdinal(a.User, b.User));
                            _frozen.Add((_version, all));
                            if (_frozen.Count > 4)
                            {
                                _frozen.RemoveAt(0);
                            }
                        }

                        offset = 0;
                    }

                    version = _frozen.First(f => ReferenceEquals(f.Entries, all)).Version;
                    int start = Math.Clamp(offset, 0, all.Length);
                    int count = Math.Min(SnapshotPage, all.Length - start);
                    page = all[start..(start + count)];
                    next = start + count < all.Length ? start + count : -1;
                }

                try
                {
                    await msg.ReplyAsync(PresenceMessage.Snapshot(version, page, next), cancellationToken: stop).ConfigureAwait(false);
                }
                catch (NatsException ex)
                {
                    Log.PresenceSendFailed(_logger, ex.Message);
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    private sealed class RemoteNode(string instance, string name, long heard)
    {
        public string Instance { get; } = instance;

        public string Name { get; } = name;

        public long LastHeard { get; set; } = heard;

        /// <summary>The version of <see cref="Entries"/>; −1 before the first snapshot.</summary>
        public long Version { get; set; } = -1;

        public HashSet<(string Room, string User)> Entries { get; } = [];

        /// <summary>A snapshot is being fetched: deltas are held in <see cref="Held"/> until it lands.</summary>
        public bool Syncing { get; set; }

        /// <summary>Deltas that came during a snapshot's fetch.</summary>
        public List<(long Version, string Room, string User, bool Present)> Held { get; } = [];

        /// <summary>When the last snapshot was asked for (a timestamp; 0 never).</summary>
        public long LastSync { get; set; }

        public long Delivered { get; set; }

        public long Lag { get; set; }

        public int Users { get; set; }

        public string? Addresses { get; set; }

        public NatsNodeInfo Describe(TimeProvider time) => new(Name, Instance, Users, Delivered, Lag, Addresses, time.GetElapsedTime(LastHeard));
    }
}

/// <summary>A node of the cluster as another hears of it.</summary>
/// <param name="Name">Its name.</param>
/// <param name="Instance">This run of it.</param>
/// <param name="Users">Its (room, user) pairs.</param>
/// <param name="Delivered">The last stream sequence it delivered.</param>
/// <param name="Lag">Messages the stream holds past that, as its consumer last reported.</param>
/// <param name="Addresses">Where clients reach it.</param>
/// <param name="Silence">How long since it was last heard.</param>
public sealed record NatsNodeInfo(string Name, string Instance, int Users, long Delivered, long Lag, string? Addresses, TimeSpan Silence);
