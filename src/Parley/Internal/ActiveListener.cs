namespace Parley.Internal;

/// <summary>A started listener of a server and, when its connections use TLS, its handshake slots.</summary>
internal sealed class ActiveListener(ListenerBinding binding)
{
    public ListenerBinding Binding { get; } = binding;

    /// <summary>Handshake slots (<see cref="TlsServerOptions.MaxConcurrentHandshakes"/>); null without TLS.</summary>
    public SemaphoreSlim? Handshakes { get; } = binding.Tls is { } tls ? new SemaphoreSlim(tls.MaxConcurrentHandshakes) : null;

    public int HandshakesInProgress => Handshakes is null ? 0 : Binding.Tls!.MaxConcurrentHandshakes - Handshakes.CurrentCount;
}
