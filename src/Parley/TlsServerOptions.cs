using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Parley;

/// <summary>TLS for a <see cref="ParleyServer"/> (<see cref="ParleyServerOptions.Tls"/>): everything above it —
/// framing, groups, broadcast, backpressure — works unchanged.</summary>
public sealed class TlsServerOptions
{
    /// <summary>The server's certificate, with its private key. Required unless <see cref="CertificateSelector"/> is set.
    /// <see cref="LoadCertificate"/> reads one from a PFX or PEM file.</summary>
    public X509Certificate2? Certificate { get; set; }

    /// <summary>Chooses the certificate by the host name the client asked for (SNI; null when it sent none).
    /// Returning null falls back to <see cref="Certificate"/>.</summary>
    public Func<string?, X509Certificate2?>? CertificateSelector { get; set; }

    /// <summary>Ask clients for a certificate and refuse those without one. Default false.</summary>
    public bool ClientCertificateRequired { get; set; }

    /// <summary>Decides on a client's certificate; default: the platform's chain validation (and, when
    /// <see cref="ClientCertificateRequired"/>, no certificate means refusal).</summary>
    public RemoteCertificateValidationCallback? ClientCertificateValidation { get; set; }

    /// <summary>Protocol versions offered. Default TLS 1.2 and 1.3.</summary>
    public SslProtocols EnabledProtocols { get; set; } = SslProtocols.Tls12 | SslProtocols.Tls13;

    /// <summary>A client that has not completed its handshake within this time is disconnected. Default 10 s.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Handshakes in progress at most; more connections wait (within their timeout) for a slot.
    /// Handshakes cost CPU: this keeps a flood of new connections from starving established ones.
    /// Default 256. A connection takes a slot only once its first handshake bytes arrive (a
    /// silent connection holds none), and while fewer than a quarter of the slots are free a
    /// handshake gets a quarter of <see cref="HandshakeTimeout"/>, so peers that stall cannot
    /// keep honest clients waiting for long.
    /// </summary>
    public int MaxConcurrentHandshakes { get; set; } = 256;

    /// <summary>Handshakes in progress (first bytes received, not yet complete) at most from one
    /// peer address (an IPv4 address or an IPv6 /64); one more is closed at once. Default 16: one
    /// host cannot take every <see cref="MaxConcurrentHandshakes"/> slot. Load tests from one
    /// machine raise it.</summary>
    public int MaxHandshakesPerAddress { get; set; } = 16;

    /// <summary>
    /// Loads a certificate with its private key: a PFX/PKCS#12 file (with <paramref name="password"/>), or a
    /// PEM certificate with its key in the same file or in <paramref name="keyPath"/>.
    /// </summary>
    /// <exception cref="System.Security.Cryptography.CryptographicException">The file is not a usable certificate.</exception>
    public static X509Certificate2 LoadCertificate(string path, string? password = null, string? keyPath = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        string text = File.ReadAllText(path);
        if (text.Contains("-----BEGIN", StringComparison.Ordinal))
        {
            using X509Certificate2 pem = X509Certificate2.CreateFromPemFile(path, keyPath ?? path);

            // Re-import: on some platforms an ephemeral PEM key cannot be used by SslStream directly.
            return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        }

        return X509CertificateLoader.LoadPkcs12FromFile(path, password);
    }

    internal void Validate()
    {
        if (Certificate is null && CertificateSelector is null)
        {
            throw new ArgumentException("TLS needs a server certificate (TlsServerOptions.Certificate or CertificateSelector).");
        }

        if (Certificate is { HasPrivateKey: false })
        {
            throw new ArgumentException("The TLS server certificate has no private key.");
        }

        if (HandshakeTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(HandshakeTimeout), HandshakeTimeout, "HandshakeTimeout must be positive.");
        }

        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxConcurrentHandshakes, nameof(MaxConcurrentHandshakes));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxHandshakesPerAddress, nameof(MaxHandshakesPerAddress));
    }
}
