using System.CommandLine;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Parley.Cli;

/// <summary><c>parley cert create</c>: a self-signed certificate for development TLS.</summary>
internal static class CertCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--out", "-o") { Description = "PFX file to write.", DefaultValueFactory = _ => "dev.pfx" };
        var host = new Option<string[]>("--host") { Description = "Host names and IP addresses the certificate is for.", DefaultValueFactory = _ => ["localhost", "127.0.0.1", "::1"], AllowMultipleArgumentsPerToken = true };
        Option<int> days = new Option<int>("--days") { Description = "Days it stays valid (1 to 36500).", DefaultValueFactory = _ => 365 }.Range(1, 36_500, "days");
        var password = new Option<string?>("--password") { Description = "PFX password (default: none)." };
        var create = new Command("create", "Write a self-signed certificate with its private key (for development: clients need --insecure or must trust it).") { output, host, days, password };
        create.SetAction(async (parse, cancellationToken) =>
        {
            string path = parse.GetValue(output)!;
            string[] names = parse.GetValue(host)!;
            using X509Certificate2 certificate = SelfSigned(names, parse.GetValue(days));
            await WritePrivateAsync(path, certificate.Export(X509ContentType.Pkcs12, parse.GetValue(password)), cancellationToken);
            await Console.Out.WriteLineAsync($"wrote {path}: CN={names[0]}, for {string.Join(", ", names)}, valid until {certificate.NotAfter:yyyy-MM-dd}, SHA-256 {certificate.GetCertHashString(HashAlgorithmName.SHA256)}");
            return 0;
        });
        var command = new Command("cert", "Certificates for TLS.");
        command.Subcommands.Add(create);
        return command;
    }

    internal static X509Certificate2 SelfSigned(string[] names, int days)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={names[0]}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (string name in names)
        {
            if (IPAddress.TryParse(name, out IPAddress? address))
            {
                san.AddIpAddress(address);
            }
            else
            {
                san.AddDnsName(name);
            }
        }

        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false)); // server authentication
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(days));
    }

    /// <summary>Writes a file holding a private key: created 0600 (owner only) on Unix, replacing any older file.</summary>
    internal static async Task WritePrivateAsync(string path, byte[] contents, CancellationToken cancellationToken)
    {
        File.Delete(path); // an older file keeps its mode; a new one gets 0600
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        await using var file = new FileStream(path, options);
        await file.WriteAsync(contents, cancellationToken);
    }
}
