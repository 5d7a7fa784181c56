namespace Parley.Hosting;

/// <summary>
/// Where a hosted server listens and its connection limits, as configuration holds them
/// (<c>appsettings.json</c>, environment variables, …). Each property is a key of the section:
/// <c>"Parley:Chat": { "Port": 8080, "MaxConnections": 50000, "Tls": { "CertificatePath": "…" } }</c>.
/// </summary>
public class ParleyListenSettings
{
    /// <summary>Address to listen on: an IP address, <c>localhost</c>, or <c>any</c> / <c>*</c> for every
    /// interface (IPv4 and IPv6). Default 127.0.0.1.</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>TCP port, 0 for a free one (read it from the service's <c>LocalEndPoint</c>).</summary>
    public int Port { get; set; }

    /// <summary>Most connections open at once. Default 10 000.</summary>
    public int MaxConnections { get; set; } = 10_000;

    /// <summary>Most connections open at once from one address (IPv4, or IPv6 /64). Default 256.</summary>
    public int MaxConnectionsPerAddress { get; set; } = 256;

    /// <summary>Connections the kernel queues before they are accepted. Default 512.</summary>
    public int ListenBacklog { get; set; } = 512;

    /// <summary>Let several processes listen on the port (SO_REUSEPORT). Default false.</summary>
    public bool SharePort { get; set; }

    /// <summary>Bytes queued for one connection before it counts as a slow consumer and is
    /// disconnected. Default 4 MiB for a server, 1 MiB for the chat server.</summary>
    public long? MaxSendQueueBytes { get; set; }

    /// <summary>How long a stop waits for connections to flush before it aborts them. Default 10 s;
    /// the host's own shutdown timeout (30 s by default) bounds it too.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>TLS on the port; none when <see cref="ParleyTlsSettings.CertificatePath"/> is not set.</summary>
    public ParleyTlsSettings Tls { get; set; } = new();
}

/// <summary>A server certificate: a PFX file (with <see cref="Password"/>), or PEM with the key in it
/// or in <see cref="KeyPath"/>.</summary>
public sealed class ParleyTlsSettings
{
    /// <summary>The certificate file; null or empty for plain TCP.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>The PEM private key, when not in the certificate file.</summary>
    public string? KeyPath { get; set; }

    /// <summary>The PFX file's password. Keep it out of appsettings.json: an environment variable
    /// (<c>Parley__Chat__Tls__Password</c>), user secrets or a key vault provider.</summary>
    public string? Password { get; set; }

    /// <summary>TLS handshakes in progress at most from one address. Default 16.</summary>
    public int MaxHandshakesPerAddress { get; set; } = 16;
}

/// <summary>Settings of a server added with <c>AddParleyServer</c> (section <c>Parley:Server</c> by default).</summary>
public sealed class ParleyServerSettings : ParleyListenSettings
{
    /// <summary>How messages are delimited: <c>length</c> (u32 little-endian prefix; the default),
    /// <c>line</c> (LF or CRLF) or <c>raw</c> (bytes as they arrive).</summary>
    public string Framing { get; set; } = "length";

    /// <summary>Largest message in bytes; a peer sending more is disconnected. Default: the framer's (1 MiB,
    /// 64 KiB lines).</summary>
    public int? MaxMessageSize { get; set; }

    /// <summary>Time without any inbound byte before a peer counts as gone. Default 30 s.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Keep-alive frames sent on a quiet connection (length framing). Default 10 s;
    /// <see cref="Timeout.InfiniteTimeSpan"/> (<c>"-00:00:00.001"</c>) for none.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>Settings of the chat server added with <c>AddParleyChat</c> (section <c>Parley:Chat</c> by default).</summary>
public sealed class ParleyChatSettings : ParleyListenSettings
{
    /// <summary>Creates the settings with the chat server's port, 8080.</summary>
    public ParleyChatSettings() => Port = 8080;

    /// <summary>The data folder: the journal and users.json. Default <c>parley-data</c>.</summary>
    public string DataDirectory { get; set; } = "parley-data";

    /// <summary><c>open</c> (every connection gets a generated user) or <c>required</c> (log in first).</summary>
    public string Auth { get; set; } = "open";

    /// <summary>When a message counts as stored: <c>always</c>, <c>batch</c> (the default) or <c>none</c>.</summary>
    public string Durability { get; set; } = "batch";

    /// <summary>A rooms file (a JSON array of <c>{"name", "description"}</c>); null for the 24 built-in rooms.</summary>
    public string? RoomsFile { get; set; }

    /// <summary>Longest message content in UTF-8 bytes. Default 4096.</summary>
    public int MaxMessageBytes { get; set; } = 4096;

    /// <summary>History kept in memory per room, in bytes. Default 128 KiB.</summary>
    public long HistoryBytesPerRoom { get; set; } = 128 * 1024;

    /// <summary>The journal's size at most, in bytes. Default 1 GiB.</summary>
    public long MaxJournalBytes { get; set; } = 1024L * 1024 * 1024;

    /// <summary>Start even when the journal has lost records (see <c>parley journal verify</c>). Default false.</summary>
    public bool AcceptJournalDamage { get; set; }

    /// <summary>Time a new connection has to log in. Default 30 s.</summary>
    public TimeSpan LoginTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Commands per second per connection. Default 1000.</summary>
    public int MaxCommandsPerSecond { get; set; } = 1000;

    /// <summary>Run as a node of a cluster sharing rooms through NATS JetStream; off while
    /// <see cref="ParleyClusterSettings.Url"/> is not set.</summary>
    public ParleyClusterSettings Cluster { get; set; } = new();
}

/// <summary>The chat server's cluster (docs/scale-out.md).</summary>
public sealed class ParleyClusterSettings
{
    /// <summary>The NATS server(s): <c>nats://host:4222</c>, comma-separated for several; null or empty for a single server.</summary>
    public string? Url { get; set; }

    /// <summary>The JetStream stream the nodes share. Default <c>PARLEY</c>.</summary>
    public string Stream { get; set; } = "PARLEY";

    /// <summary>This node's name; default: host name and process id.</summary>
    public string? NodeName { get; set; }

    /// <summary>A NATS credentials file (.creds).</summary>
    public string? CredentialsFile { get; set; }

    /// <summary>Copies JetStream keeps of each message when this node creates the stream (1 to 5). Default 1.</summary>
    public int Replicas { get; set; } = 1;
}
