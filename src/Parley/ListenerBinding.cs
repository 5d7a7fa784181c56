namespace Parley;

/// <summary>One entry of <see cref="ParleyServerOptions.Listeners"/>: a listener, and TLS over
/// its connections when <paramref name="Tls"/> is not null.</summary>
/// <remarks><see cref="TlsServerOptions.MaxConcurrentHandshakes"/> counts per listener (each TLS
/// listener has its own handshake slots); <see cref="TlsServerOptions.MaxHandshakesPerAddress"/>
/// counts one address's handshakes over every listener of the server.</remarks>
/// <param name="Listener">Where connections come from.</param>
/// <param name="Tls">TLS for every connection it accepts; null for none.</param>
public sealed record ListenerBinding(ConnectionListener Listener, TlsServerOptions? Tls = null);
