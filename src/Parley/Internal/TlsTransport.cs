using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;

namespace Parley.Internal;

/// <summary>A <see cref="Transport"/> over TLS (<see cref="SslStream"/>) on a connected socket.</summary>
internal sealed class TlsTransport : Transport
{
    private readonly Socket _socket;
    private readonly SslStream _ssl;

    private TlsTransport(Socket socket, SslStream ssl)
    {
        _socket = socket;
        _ssl = ssl;
        LocalEndPoint = socket.LocalEndPoint;
        RemoteEndPoint = socket.RemoteEndPoint;
    }

    public override EndPoint? LocalEndPoint { get; }

    public override EndPoint? RemoteEndPoint { get; }

    /// <summary>The negotiated protocol, for logs.</summary>
    public SslProtocols Protocol => _ssl.SslProtocol;

    // Decrypted bytes buffered inside SslStream are not visible here; raw bytes on the socket prove the peer alive too.
    public override int AvailableBytes
    {
        get
        {
            try
            {
                return _socket.Available;
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                return 0;
            }
        }
    }

    /// <summary>Runs the server side of the handshake; the socket is disposed when it fails.</summary>
    public static async Task<TlsTransport> AcceptAsync(Socket socket, ConnectionOptions options, TlsServerOptions tls, CancellationToken cancellationToken)
    {
        SocketTransport.Configure(socket, options);
        var ssl = new SslStream(new NetworkStream(socket, ownsSocket: true), leaveInnerStreamOpen: false);
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
            return new TlsTransport(socket, ssl);
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Runs the client side of the handshake; the socket is disposed when it fails.</summary>
    public static async Task<TlsTransport> ConnectAsync(Socket socket, ConnectionOptions options, TlsClientOptions tls, string targetHost, CancellationToken cancellationToken)
    {
        SocketTransport.Configure(socket, options);
        var ssl = new SslStream(new NetworkStream(socket, ownsSocket: true), leaveInnerStreamOpen: false);
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
            return new TlsTransport(socket, ssl);
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public override ValueTask<int> ReceiveAsync(Memory<byte> buffer) => _ssl.ReadAsync(buffer);

    public override async ValueTask<int> SendAsync(ReadOnlyMemory<byte> buffer)
    {
        await _ssl.WriteAsync(buffer).ConfigureAwait(false);
        return buffer.Length;
    }

    public override async ValueTask ShutdownSendAsync()
    {
        try
        {
            await _ssl.ShutdownAsync().ConfigureAwait(false); // close_notify: the peer can tell an end from a truncation
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The peer is gone or the stream was aborted: the FIN below is all that is left to send.
        }

        SocketTransport.ShutdownSend(_socket);
    }

    public override void Dispose() => _ssl.Dispose();
}
