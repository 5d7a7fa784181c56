using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Parley;

/// <summary>TLS for a <see cref="ParleyClient"/> (<see cref="ParleyClientOptions.Tls"/>). By default the server's
/// certificate must be trusted by the platform and name the host connected to.</summary>
public sealed class TlsClientOptions
{
    /// <summary>The server's name: sent as SNI and checked against its certificate. Default: the host of
    /// <see cref="ParleyClientOptions.RemoteEndPoint"/> (a <see cref="System.Net.DnsEndPoint"/>'s name, or the IP address).</summary>
    public string? TargetHost { get; set; }

    /// <summary>Certificates to offer when the server asks for one.</summary>
    public X509CertificateCollection? ClientCertificates { get; set; }

    /// <summary>Decides on the server's certificate instead of the default validation (chain trusted, name matches, in date).</summary>
    public RemoteCertificateValidationCallback? ServerCertificateValidation { get; set; }

    /// <summary>Accept any server certificate: for development against a self-signed certificate only
    /// (<c>--insecure</c>). Default false. Ignored when <see cref="ServerCertificateValidation"/> is set.</summary>
    public bool AllowUntrustedServerCertificate { get; set; }

    /// <summary>Protocol versions offered. Default TLS 1.2 and 1.3.</summary>
    public SslProtocols EnabledProtocols { get; set; } = SslProtocols.Tls12 | SslProtocols.Tls13;

    /// <summary>The handshake must complete within this time. Default 10 s.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
