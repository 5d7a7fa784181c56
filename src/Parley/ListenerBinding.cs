namespace Parley;

/// <summary>One entry of <see cref="ParleyServerOptions.Listeners"/>: a listener, and TLS over
/// its connections when <paramref name="Tls"/> is not null.</summary>
/// <param name="Listener">Where connections come from.</param>
/// <param name="Tls">TLS for every connection it accepts; null for none.</param>
public sealed record ListenerBinding(ConnectionListener Listener, TlsServerOptions? Tls = null);
