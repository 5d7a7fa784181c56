using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Parley.Chat.Nats;

/// <summary>Settings of a <see cref="NatsChatBackplane"/>. Every node of a cluster must use the same <see cref="StreamName"/> and <see cref="SubjectPrefix"/>.</summary>
public sealed partial class NatsChatBackplaneOptions
{
    /// <summary>The NATS server(s): <c>nats://host:port</c>, several separated by commas for a NATS cluster. Default <c>nats://127.0.0.1:4222</c>.</summary>
    public string Url { get; set; } = "nats://127.0.0.1:4222";

    /// <summary>
    /// A NATS credentials file (<c>.creds</c>: a user JWT and its NKey seed, as <c>nsc</c> writes
    /// them) for a NATS server with accounts; optional. A user and password may instead be given in
    /// <see cref="Url"/> (<c>nats://user:pass@host:4222</c>); either way logs show the address without them.
    /// </summary>
    public string? CredentialsFile { get; set; }

    /// <summary><see cref="Url"/> as logs and errors show it: any <c>user:password@</c> left out.</summary>
    public string DisplayUrl => Redact(Url);

    /// <summary>Each address of a comma-separated list without its user information.</summary>
    internal static string Redact(string urls) => string.Join(",", urls.Split(',').Select(url =>
    {
        int scheme = url.IndexOf("://", StringComparison.Ordinal);
        int at = url.IndexOf('@', StringComparison.Ordinal);
        return scheme >= 0 && at > scheme ? url[..(scheme + 3)] + url[(at + 1)..] : url;
    }));

    /// <summary>This node's name (letters, digits, <c>-</c> and <c>_</c>, at most 64). Default: the host's name and the process id.</summary>
    public string NodeName { get; set; } = DefaultNodeName();

    /// <summary>The JetStream stream holding every room's messages; created (file storage) when missing. Default <c>PARLEY</c>.</summary>
    public string StreamName { get; set; } = "PARLEY";

    /// <summary>The subjects' first token: messages go to <c>PREFIX.room.ROOM</c>, presence to <c>PREFIX.nodes</c>. Default <c>parley</c>.</summary>
    public string SubjectPrefix { get; set; } = "parley";

    /// <summary>Copies JetStream keeps of each message when this node creates the stream (1, or 3 on a 3-server NATS cluster). Default 1.</summary>
    public int Replicas { get; set; } = 1;

    /// <summary>The stream's size at most when this node creates it; past it the oldest messages go (and leave history). Default 1 GiB.</summary>
    public long MaxStreamBytes { get; set; } = 1024L * 1024 * 1024;

    /// <summary>How often this node says it is alive (with its presence version and how far it has delivered). Default 1 s.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>A node silent this long is gone: its users leave the rooms on every other node. Default 5 s.</summary>
    public TimeSpan NodeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a send waits for JetStream to confirm it before the client gets <c>unavailable</c>. Default 5 s.</summary>
    public TimeSpan PublishTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long <see cref="NatsChatBackplane.StartAsync"/> tries to reach NATS before it gives up. Default 10 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Where clients reach this node (<c>tcp://…</c>, <c>http://…</c>), shown by <c>parley cluster status</c>. Optional.</summary>
    public string? Addresses { get; set; }

    /// <summary>Logging. Default none.</summary>
    public ILoggerFactory LoggerFactory { get; set; } = NullLoggerFactory.Instance;

    /// <summary>The clock of heartbeats and node deadlines.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Checks the settings.</summary>
    /// <exception cref="ArgumentException">One is out of range.</exception>
    public void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(Url);
        if (CredentialsFile is not null && !File.Exists(CredentialsFile))
        {
            throw new ArgumentException($"The NATS credentials file {CredentialsFile} does not exist.", nameof(CredentialsFile));
        }
        if (!NamePattern().IsMatch(NodeName))
        {
            throw new ArgumentException($"A node name is 1 to 64 letters, digits, '-' or '_'; not \"{NodeName}\".", nameof(NodeName));
        }

        if (!NamePattern().IsMatch(StreamName))
        {
            throw new ArgumentException($"A stream name is 1 to 64 letters, digits, '-' or '_'; not \"{StreamName}\".", nameof(StreamName));
        }

        if (!NamePattern().IsMatch(SubjectPrefix))
        {
            throw new ArgumentException($"A subject prefix is 1 to 64 letters, digits, '-' or '_'; not \"{SubjectPrefix}\".", nameof(SubjectPrefix));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(Replicas, 1, nameof(Replicas));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(Replicas, 5, nameof(Replicas));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxStreamBytes, 1024 * 1024, nameof(MaxStreamBytes));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(HeartbeatInterval, TimeSpan.Zero, nameof(HeartbeatInterval));
        if (NodeTimeout < HeartbeatInterval * 2)
        {
            throw new ArgumentOutOfRangeException(nameof(NodeTimeout), NodeTimeout, "NodeTimeout must be at least two heartbeat intervals.");
        }

        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(PublishTimeout, TimeSpan.Zero, nameof(PublishTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ConnectTimeout, TimeSpan.Zero, nameof(ConnectTimeout));
    }

    private static string DefaultNodeName()
    {
        string host = NameCleaner().Replace(Environment.MachineName, "-");
        string name = $"{host}-{Environment.ProcessId}";
        return name.Length <= 64 ? name : name[^64..];
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("[^A-Za-z0-9_-]")]
    private static partial Regex NameCleaner();
}
