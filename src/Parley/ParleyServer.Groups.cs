using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace Parley;

public sealed partial class ParleyServer
{
    private readonly ConcurrentDictionary<string, ConnectionGroup> _groups = new(StringComparer.Ordinal);
    /// <summary>Every open connection of this server, as a group (what <see cref="Broadcast(ReadOnlySpan{byte}, Connection?)"/> sends to).</summary>
    public ConnectionGroup Everyone { get; }

    /// <summary>The named groups now.</summary>
    public IReadOnlyCollection<ConnectionGroup> Groups => [.. _groups.Values];

    /// <summary>Returns the group called <paramref name="name"/>, creating it if needed.</summary>
    /// <exception cref="InvalidOperationException"><see cref="ParleyServerOptions.MaxGroups"/> groups exist already.</exception>
    public ConnectionGroup GetOrCreateGroup(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (_groups.TryGetValue(name, out ConnectionGroup? existing))
        {
            return existing;
        }

        if (_groups.Count >= _options.MaxGroups)
        {
            throw new InvalidOperationException($"The server already has {_options.MaxGroups} groups (MaxGroups).");
        }

        return _groups.GetOrAdd(name, static (key, server) => new ConnectionGroup(key, server._options.Framer, server._options.BufferPool, server._options.Middleware), this);
    }

    /// <summary>Finds a group by name.</summary>
    public bool TryGetGroup(string name, [NotNullWhen(true)] out ConnectionGroup? group) => _groups.TryGetValue(name, out group);

    /// <summary>Removes a group; its members stay connected. False when there was no such group.</summary>
    public bool RemoveGroup(string name)
    {
        if (!_groups.TryRemove(name, out ConnectionGroup? group))
        {
            return false;
        }

        foreach (Connection member in group.Members)
        {
            group.Remove(member);
        }

        return true;
    }

    /// <summary>Sends <paramref name="payload"/> to every open connection (but <paramref name="except"/>), encoded once.</summary>
    /// <returns>How many connections queued it.</returns>
    public int Broadcast(ReadOnlySpan<byte> payload, Connection? except = null) => Everyone.Broadcast(payload, except);

    /// <summary>Sends a received message (or any sequence) to every open connection (but <paramref name="except"/>), encoded once.</summary>
    public int Broadcast(in ReadOnlySequence<byte> payload, Connection? except = null) => Everyone.Broadcast(payload, except);
}
