namespace Parley.Bench;

/// <summary>What a <c>parley bench</c> run was asked to do.</summary>
internal sealed record BenchSettings(
    int Clients,
    int Size,
    TimeSpan Duration,
    TimeSpan Interval,
    int Inflight,
    string? Target,
    int? ServerPid,
    bool Json)
{
    /// <summary>Run the server with TLS and connect the clients over it.</summary>
    public bool Tls { get; init; }

    /// <summary>Connect over WebSocket (the echo server with <c>--transport ws</c>, the chat server's web port).</summary>
    public bool WebSocket { get; init; }

    /// <summary>The target is a SignalR hub (bench/SignalRHub), spoken to with its JSON protocol over WebSocket.</summary>
    public bool SignalR { get; init; }

    /// <summary>Payload compression (<c>--compress zlib|brotli</c>) on the server and the clients; null for none.</summary>
    public string? Compress { get; init; }

    /// <summary>With --target and --tls: accept any server certificate.</summary>
    public bool Insecure { get; init; }
}
