using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Parley.Contract.Tests;

/// <summary>A self-signed certificate for one name, made on the spot, and a check that trusts exactly it.</summary>
internal static class TestCertificate
{
    public static X509Certificate2 Create(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        using X509Certificate2 created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>Accepts the one certificate given, for the name it carries only.</summary>
    public static RemoteCertificateValidationCallback Trust(X509Certificate2 expected) =>
        (_, certificate, _, errors) =>
            certificate is not null
            && (errors & SslPolicyErrors.RemoteCertificateNameMismatch) == 0
            && certificate.GetCertHashString() == expected.GetCertHashString();
}
