using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using Parley.Internal;

namespace Parley;

/// <summary>
/// TLS as a decorator over any <see cref="Transport"/>: a TCP or Unix-domain socket, shared
/// memory, an in-process pipe or a third-party transport. A server applies it to the
/// connections of a listener given TLS options (<see cref="ParleyServerOptions.Listen"/>), a
/// client to whatever its dialer opens (<see cref="ParleyClientOptions.Tls"/>); it can also be
/// used directly.
/// </summary>
public sealed class TlsTransport : Transport
{
    private readonly Transport _inner;
    private readonly SslStream _ssl;

    private TlsTransport(Transport inner, SslStream ssl)
    {
        _inner = inner;
        _ssl = ssl;
    }

    /// <inheritdoc />
    public override EndPoint? LocalEndPoint => _inner.LocalEndPoint;

    /// <inheritdoc />
    public override EndPoint? RemoteEndPoint => _inner.RemoteEndPoint;

    /// <summary>The negotiated protocol version.</summary>
    public SslProtocols Protocol => _ssl.SslProtocol;

    /// <summary>The raw bytes waiting on the inner transport (decrypted bytes buffered inside
    /// TLS are not visible here; raw bytes prove the peer alive just as well).</summary>
    public override int AvailableBytes => _inner.AvailableBytes;

    /// <summary>
    /// Runs the server side of the handshake over <paramref name="inner"/> and returns the
    /// secured transport. On failure (or when <paramref name="cancellationToken"/> is cancelled)
    /// <paramref name="inner"/> is disposed and the exception thrown:
    /// <see cref="AuthenticationException"/>, <see cref="IOException"/> or
    /// <see cref="OperationCanceledException"/>.
    /// </summary>
    public static async Task<TlsTransport> AuthenticateAsServerAsync(Transport inner, TlsServerOptions tls, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (tls is null)
        {
            inner.Dispose(); // as on every other failure: the caller handed the transport over
            ArgumentNullException.ThrowIfNull(tls);
        }

        var ssl = new SslStream(new TransportStream(inner), leaveInnerStreamOpen: false);
        try
        {
            var authentication = new SslServerAuthenticationOptions
            {
                ServerCertificate = tls.Certificate,
                ServerCertificateSelectionCallback = tls.CertificateSelector is { } select ? (_, host) => select(host) ?? tls.Certificate! : null,
                ClientCertificateRequired = tls.ClientCertificateRequired,
                RemoteCertificateValidationCallback = tls.ClientCertificateValidation,
                EnabledSslProtocols = tls.EnabledProtocols,
            };
            if (authentication.ServerCertificateSelectionCallback is not null)
            {
                authentication.ServerCertificate = null;
            }

            await ssl.AuthenticateAsServerAsync(authentication, cancellationToken).ConfigureAwait(false);
            return new TlsTransport(inner, ssl);
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Runs the client side of the handshake over <paramref name="inner"/>, verifying the
    /// server's certificate against <paramref name="targetHost"/> (also sent as SNI) unless
    /// <paramref name="tls"/> says otherwise. On failure <paramref name="inner"/> is disposed and
    /// the exception thrown, as for <see cref="AuthenticateAsServerAsync"/>.
    /// </summary>
    public static async Task<TlsTransport> AuthenticateAsClientAsync(Transport inner, TlsClientOptions tls, string targetHost, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (tls is null || string.IsNullOrEmpty(targetHost))
        {
            inner.Dispose(); // as on every other failure: the caller handed the transport over
            ArgumentNullException.ThrowIfNull(tls);
            ArgumentException.ThrowIfNullOrEmpty(targetHost);
        }

        var ssl = new SslStream(new TransportStream(inner), leaveInnerStreamOpen: false);
        try
        {
#pragma warning disable CA5359 // Accepting any certificate is the explicit, documented opt-in for development (--insecure).
            var authentication = new SslClientAuthenticationOptions
            {
                TargetHost = targetHost,
                ClientCertificates = tls.ClientCertificates,
                EnabledSslProtocols = tls.EnabledProtocols,
                RemoteCertificateValidationCallback = tls.ServerCertificateValidation
                    ?? (tls.AllowUntrustedServerCertificate ? (_, _, _, _) => true : null),
            };
#pragma warning restore CA5359
            await ssl.AuthenticateAsClientAsync(authentication, cancellationToken).ConfigureAwait(false);
            return new TlsTransport(inner, ssl);
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <inheritdoc />
    public override ValueTask<int> ReceiveAsync(Memory<byte> buffer) => _ssl.ReadAsync(buffer);

    /// <inheritdoc />
    public override async ValueTask<int> SendAsync(ReadOnlyMemory<byte> buffer)
    {
        await _ssl.WriteAsync(buffer).ConfigureAwait(false);
        return buffer.Length;
    }

    /// <summary>Sends close_notify (so the peer can tell an end from a truncation), then ends the inner transport's sending.</summary>
    public override async ValueTask ShutdownSendAsync()
    {
        try
        {
            await _ssl.ShutdownAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            // The peer is gone or the stream was aborted: the inner shutdown below is all that is left to send.
        }

        await _inner.ShutdownSendAsync().ConfigureAwait(false);
    }

    /// <inheritdoc />
    public override void Dispose() => _ssl.Dispose();
}
