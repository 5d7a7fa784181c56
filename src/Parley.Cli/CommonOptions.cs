using System.CommandLine;
using System.Net;
using Microsoft.Extensions.Logging;

namespace Parley.Cli;

/// <summary>Options every server command shares, and how they turn into library settings.</summary>
internal static class CommonOptions
{
    public static Option<string> Host() => new("--host")
    {
        Description = "Address to listen on: 127.0.0.1, ::1, 0.0.0.0, :: or any (all interfaces, IPv4 and IPv6), localhost.",
        DefaultValueFactory = _ => "127.0.0.1",
    };

    public static Option<int> Port(int defaultPort) => new("--port", "-p")
    {
        Description = "TCP port; 0 picks a free one (printed at start).",
        DefaultValueFactory = _ => defaultPort,
    };

    public static Option<string> Framing()
    {
        var option = new Option<string>("--framing")
        {
            Description = "How messages are delimited: length (u32 little-endian prefix, Miku-compatible), line (LF or CRLF), raw (bytes as they arrive).",
            DefaultValueFactory = _ => "length",
        };
        option.AcceptOnlyFromAmong("length", "line", "raw");
        return option;
    }

    public static Option<int> MaxMessageSize() => new("--max-message-size")
    {
        Description = "Largest message in bytes; a peer announcing more is disconnected (frame too large).",
        DefaultValueFactory = _ => 1024 * 1024,
    };

    public static Option<double> IdleTimeout() => new("--idle-timeout")
    {
        Description = "Seconds without any inbound byte before a peer counts as gone. Default: 30 for length framing (peers send keep-alives), 300 for line and raw.",
    };

    public static Option<int> MaxConnections() => new("--max-connections")
    {
        Description = "Most connections open at once.",
        DefaultValueFactory = _ => 10_000,
    };

    public static Option<LogLevel> LogLevel() => new("--log-level")
    {
        Description = "Least severe log level shown: Trace, Debug, Information, Warning, Error.",
        DefaultValueFactory = _ => Microsoft.Extensions.Logging.LogLevel.Information,
    };

    public static Option<double> SummaryInterval() => new("--summary-interval")
    {
        Description = "Seconds between summary lines (connections, messages, bytes).",
        DefaultValueFactory = _ => 10,
    };

    public static IPAddress ParseHost(string host) => host.ToUpperInvariant() switch
    {
        "ANY" or "*" or "::" => IPAddress.IPv6Any,
        "0.0.0.0" => IPAddress.Any,
        "LOCALHOST" => IPAddress.Loopback,
        _ when IPAddress.TryParse(host.Trim('[', ']'), out IPAddress? address) => address,
        _ => throw new ArgumentException($"--host: '{host}' is not an IP address (use 127.0.0.1, ::1, 0.0.0.0, :: or any)."),
    };

    public static MessageFramer CreateFramer(string framing, int maxMessageSize) => framing switch
    {
        "line" => new LineFramer(maxMessageSize),
        "raw" => new RawFramer(maxMessageSize),
        _ => new LengthPrefixedFramer(maxMessageSize),
    };

    public static ILoggerFactory CreateLoggerFactory(LogLevel level) =>
        LoggerFactory.Create(builder => builder
            .SetMinimumLevel(level)
            .AddSimpleConsole(console =>
            {
                console.SingleLine = true;
                console.TimestampFormat = "HH:mm:ss.fff ";
            }));
}
