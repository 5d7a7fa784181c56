using System.Diagnostics.CodeAnalysis;
using System.Net;

namespace Parley.Cli.Chat;

/// <summary>
/// Where <c>parley chat</c> connects over TCP: the host exactly as the user gave it (a DNS name
/// or an IP address) and a port. A name is resolved at each connect, so a reconnect follows a
/// server that moved, and TLS checks the server's certificate against the name given, not
/// against whichever address it resolved to.
/// </summary>
internal sealed record ChatServerAddress(string Host, int Port)
{
    /// <summary>Reads <c>--host</c>: an IPv4 or IPv6 address (<c>::1</c> or <c>[::1]</c>) or a DNS name.</summary>
    public static bool TryParse(string host, int port, [NotNullWhen(true)] out ChatServerAddress? address, [NotNullWhen(false)] out string? error)
    {
        address = null;
        string trimmed = host.Trim();
        if (trimmed.Length > 2 && trimmed[0] == '[' && trimmed[^1] == ']')
        {
            trimmed = trimmed[1..^1];
        }

        if (port is < IPEndPoint.MinPort or > IPEndPoint.MaxPort)
        {
            error = $"--port: {port} is not a port number (0 to 65535).";
            return false;
        }

        // Dns (a name) or IPv4/IPv6 (an address literal); Unknown for anything else, e.g. "a b" or "host:8080".
        if (trimmed.Length == 0 || Uri.CheckHostName(trimmed) == UriHostNameType.Unknown)
        {
            error = $"--host: '{host}' is neither a host name nor an IP address.";
            return false;
        }

        address = new ChatServerAddress(trimmed, port);
        error = null;
        return true;
    }

    /// <summary>
    /// Reads <c>--servers</c>: <c>HOST:PORT</c> items separated by commas (an IPv6 address in
    /// brackets: <c>[::1]:8080</c>), for a cluster's nodes.
    /// </summary>
    public static bool TryParseList(string text, [NotNullWhen(true)] out IReadOnlyList<ChatServerAddress>? addresses, [NotNullWhen(false)] out string? error)
    {
        addresses = null;
        var list = new List<ChatServerAddress>();
        foreach (string item in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int colon = item.LastIndexOf(':');
            if (colon <= 0 || (item.Contains(':', StringComparison.Ordinal) && item.IndexOf(':', StringComparison.Ordinal) != colon && item[0] != '['))
            {
                error = $"--servers: '{item}' is not HOST:PORT (an IPv6 address goes in brackets: [::1]:8080).";
                return false;
            }

            if (!int.TryParse(item.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int port) || port is < 1 or > IPEndPoint.MaxPort)
            {
                error = $"--servers: '{item}' has no port number (1 to 65535) after its last ':'.";
                return false;
            }

            if (!TryParse(item[..colon], port, out ChatServerAddress? address, out string? itemError))
            {
                error = itemError.Replace("--host", "--servers", StringComparison.Ordinal);
                return false;
            }

            list.Add(address);
        }

        if (list.Count == 0)
        {
            error = "--servers: no HOST:PORT given.";
            return false;
        }

        addresses = list;
        error = null;
        return true;
    }

    /// <summary>An <see cref="IPEndPoint"/> for an address literal, else a <see cref="DnsEndPoint"/> (every address the name resolves to is tried in turn).</summary>
    public EndPoint EndPoint => IPAddress.TryParse(Host, out IPAddress? ip) ? new IPEndPoint(ip, Port) : new DnsEndPoint(Host, Port);

    /// <summary>The name TLS sends as SNI and checks the certificate against: the host as given.</summary>
    public string TlsTargetHost => Host;

    public override string ToString() => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}
