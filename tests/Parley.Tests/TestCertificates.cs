using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Parley.Tests;

/// <summary>Certificates made on the spot for TLS tests: a test root, server and client certificates it signs, and the client-side check that trusts it.</summary>
internal static class TestCertificates
{
    public static readonly X509Certificate2 Root = Create("Parley Test Root", DateTimeOffset.UtcNow.AddDays(-30), DateTimeOffset.UtcNow.AddDays(30), authority: true);

    /// <summary>A certificate for <paramref name="name"/> and 127.0.0.1 signed by <paramref name="issuer"/> (or self-signed).</summary>
    public static X509Certificate2 Create(string name, DateTimeOffset notBefore, DateTimeOffset notAfter, X509Certificate2? issuer = null, bool authority = false)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(authority, false, 0, true));
        using X509Certificate2 created = issuer is null
            ? request.CreateSelfSigned(notBefore, notAfter)
            : request.Create(issuer, notBefore, notAfter, RandomNumberGenerator.GetBytes(8)).CopyWithPrivateKey(key);
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>A valid certificate for <paramref name="name"/> signed by <see cref="Root"/>.</summary>
    public static X509Certificate2 Signed(string name = "localhost") =>
        Create(name, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(10), Root);

    /// <summary>A self-signed certificate for localhost: what a client that trusts only <see cref="Root"/> refuses.</summary>
    public static X509Certificate2 Untrusted() =>
        Create("localhost", DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));

    /// <summary>The platform's validation with <see cref="Root"/> as the only trust anchor: name, dates and chain all count.</summary>
    public static bool TrustTestRoot(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null || (errors & (SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateNotAvailable)) != 0)
        {
            return false;
        }

        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.Add(Root);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var presented = new X509Certificate2(certificate);
        return custom.Build(presented);
    }
}
