using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Parley.Cli.Chat;

/// <summary>
/// <c>--tls-ca FILE</c>: trust the server's certificate when it chains to this one certificate
/// (a private authority, or the self-signed certificate <c>parley cert create</c> wrote) instead
/// of the machine's trusted roots. The name is still checked: the certificate must name the
/// <c>--host</c> given, exactly as with the platform's roots.
/// </summary>
internal sealed class ChatServerTrust : IDisposable
{
    private readonly X509Certificate2 _authority;

    private ChatServerTrust(X509Certificate2 authority) => _authority = authority;

    /// <summary>Why the last handshake's certificate was refused; null when none was. Cleared before each connect.</summary>
    public string? LastRefusal { get; set; }

    /// <summary>Loads a PEM or DER certificate, or a PFX/PKCS#12 file (its certificate only; no password).</summary>
    public static bool TryLoad(string path, out ChatServerTrust? trust, out string? error)
    {
        trust = null;
        try
        {
            string extension = Path.GetExtension(path).ToUpperInvariant();
            X509Certificate2 certificate = extension is ".PFX" or ".P12"
                ? X509CertificateLoader.LoadPkcs12FromFile(path, password: null)
                : X509CertificateLoader.LoadCertificateFromFile(path);
            trust = new ChatServerTrust(certificate);
            error = null;
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException)
        {
            error = $"--tls-ca {path}: {ex.Message}";
            return false;
        }
    }

    /// <summary>The validation callback for <see cref="TlsClientOptions.ServerCertificateValidation"/>.</summary>
    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0)
        {
            LastRefusal = "the server sent no certificate";
            return false;
        }

        // The platform compared the certificate's names with the target host (the --host given); keep that verdict.
        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            LastRefusal = "the server's certificate does not name the host connected to (--host)";
            return false;
        }

        using X509Certificate2 leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.Add(_authority);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck; // a private authority publishes no revocation lists
        if (chain is not null)
        {
            foreach (X509ChainElement element in chain.ChainElements)
            {
                custom.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        if (custom.Build(leaf))
        {
            LastRefusal = null;
            return true;
        }

        LastRefusal = "the server's certificate is not issued by the --tls-ca certificate: " +
            string.Join("; ", custom.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
        return false;
    }

    public void Dispose() => _authority.Dispose();
}
