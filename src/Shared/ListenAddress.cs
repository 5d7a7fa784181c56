using System.Diagnostics.CodeAnalysis;
using System.Net;

namespace Parley;

/// <summary>
/// A listening address as people write it (<c>parley serve --host</c>, Parley.Hosting's <c>Host</c>
/// setting): an IP address (brackets allowed), <c>localhost</c>, <c>0.0.0.0</c>, or <c>any</c> /
/// <c>*</c> / <c>::</c> for every interface, IPv4 and IPv6. Shared by source (docs/architecture.md).
/// </summary>
internal static class ListenAddress
{
    public static bool TryParse(string host, [NotNullWhen(true)] out IPAddress? address)
    {
        address = host.ToUpperInvariant() switch
        {
            "ANY" or "*" or "::" => IPAddress.IPv6Any,
            "0.0.0.0" => IPAddress.Any,
            "LOCALHOST" => IPAddress.Loopback,
            _ => IPAddress.TryParse(host.Trim('[', ']'), out IPAddress? parsed) ? parsed : null,
        };
        return address is not null;
    }
}
