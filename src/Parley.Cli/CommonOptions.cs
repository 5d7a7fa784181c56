using System.CommandLine;
using System.Net;
using Microsoft.Extensions.Logging;

namespace Parley.Cli;

/// <summary>Options every server command shares, and how they turn into library settings.</summary>
internal static partial class CommonOptions
{
    /// <summary>The longest duration or interval an option takes, in seconds: one day.</summary>
    public const double MaxSeconds = 86_400;

    /// <summary>The most connections (or clients) an option takes: each is a file descriptor.</summary>
    public const int MaxConnectionCount = 1_000_000;

    /// <summary>The largest message size an option takes: 1 GiB (a frame is buffered whole).</summary>
    public const int MaxMessageBytes = 1 << 30;

    public static Option<string> Host()
    {
        var option = new Option<string>("--host")
        {
            Description = "Address to listen on: 127.0.0.1, ::1, 0.0.0.0, :: or any (all interfaces, IPv4 and IPv6), localhost.",
            DefaultValueFactory = _ => "127.0.0.1",
        };

        // Bad input is a parse error with a message, not a stack trace from inside the command.
        option.Validators.Add(result =>
        {
            if (!TryParseHost(result.GetValueOrDefault<string>() ?? string.Empty, out _))
            {
                result.AddError($"--host: '{result.GetValueOrDefault<string>()}' is not an IP address (use 127.0.0.1, ::1, 0.0.0.0, :: or any).");
            }
        });
        return option;
    }

    /// <summary><c>--name</c>: the shared-memory name for <c>--transport ipc</c>, checked at parse time.</summary>
    public static Option<string> IpcName(string defaultName, string description)
    {
        var option = new Option<string>("--name") { Description = description, DefaultValueFactory = _ => defaultName };
        option.Validators.Add(result =>
        {
            if (!Parley.Ipc.IpcOptions.IsValidName(result.GetValueOrDefault<string>()))
            {
                result.AddError($"--name: '{result.GetValueOrDefault<string>()}' is not a valid IPC name (1–64 letters, digits, '.', '_' or '-', not starting with '.').");
            }
        });
        return option;
    }

    /// <summary><c>--port</c> to listen on: 0 to 65535, 0 picking a free one.</summary>
    public static Option<int> Port(int defaultPort) => new Option<int>("--port", "-p")
    {
        Description = "TCP port; 0 picks a free one (printed at start).",
        DefaultValueFactory = _ => defaultPort,
    }.Range(IPEndPoint.MinPort, IPEndPoint.MaxPort, "");

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

    public static Option<int?> MaxMessageSize() => new Option<int?>("--max-message-size")
    {
        Description = "Largest message in bytes (1 to 1073741824); a peer sending more is disconnected (frame too large). Default: 1 MiB for length and raw framing, 64 KiB lines for line framing.",
    }.Range(1, MaxMessageBytes, "bytes");

    public static Option<double> IdleTimeout() => new Option<double>("--idle-timeout")
    {
        Description = "Seconds without any inbound byte before a peer counts as gone (more than 0, at most 86400). Default: 30 for length framing (peers send keep-alives), 300 for line and raw.",
    }.Positive(MaxSeconds, "seconds");

    public static Option<int> MaxConnections() => new Option<int>("--max-connections")
    {
        Description = "Most connections open at once (1 to 1000000).",
        DefaultValueFactory = _ => 10_000,
    }.Range(1, MaxConnectionCount, "");

    public static Option<int> MaxConnectionsPerAddress() => new Option<int>("--max-connections-per-address")
    {
        Description = "Most connections open at once from one address, an IPv4 address or an IPv6 /64 (1 to 1000000); one more gets a refusal and is closed. Raise it for load tests from one machine.",
        DefaultValueFactory = _ => 256,
    }.Range(1, MaxConnectionCount, "");

    public static Option<int> MaxHandshakesPerAddress() => new Option<int>("--max-handshakes-per-address")
    {
        Description = "With --tls-cert: TLS handshakes in progress at most from one address (1 to 1000000); one more is closed. Raise it for load tests from one machine.",
        DefaultValueFactory = _ => 16,
    }.Range(1, MaxConnectionCount, "");

    public static Option<bool> SharePort() => new("--share-port")
    {
        Description = "Let several servers listen on the same port, the kernel spreading connections among them (SO_REUSEPORT). Without it a port in use is an error.",
    };

    public static Option<LogLevel> LogLevel() => new("--log-level")
    {
        Description = "Least severe log level shown: Trace, Debug, Information, Warning, Error.",
        DefaultValueFactory = _ => Microsoft.Extensions.Logging.LogLevel.Information,
    };

    public static Option<double> SummaryInterval() => new Option<double>("--summary-interval")
    {
        Description = "Seconds between summary lines (connections, messages, bytes): more than 0, at most 86400.",
        DefaultValueFactory = _ => 10,
    }.Positive(MaxSeconds, "seconds");

    /// <summary>The address for a validated <c>--host</c> value.</summary>
    public static IPAddress ParseHost(string host) =>
        TryParseHost(host, out IPAddress? address) ? address : throw new ArgumentException($"--host: '{host}' is not an IP address.");

    public static bool TryParseHost(string host, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IPAddress? address) =>
        ListenAddress.TryParse(host, out address);

    /// <summary>The framer for <c>--framing</c>, with the framer's own default limit unless one was given.</summary>
    public static MessageFramer CreateFramer(string framing, int? maxMessageSize) => framing switch
    {
        "line" => new LineFramer(maxMessageSize ?? LineFramer.DefaultMaxLineLength),
        "raw" => new RawFramer(maxMessageSize ?? RawFramer.DefaultMaxMessageSize),
        _ => new LengthPrefixedFramer(maxMessageSize ?? LengthPrefixedFramer.DefaultMaxMessageSize),
    };

    public static Option<string> LogFormat()
    {
        var option = new Option<string>("--log-format")
        {
            Description = "simple: one line per entry, for people. json: one JSON object per line (timestamp, level, category, event id, message, fields), for log shippers; the 'listening on' line is then a log entry too.",
            DefaultValueFactory = _ => "simple",
        };
        option.AcceptOnlyFromAmong("simple", "json");
        return option;
    }

    /// <summary>The line a server prints once it listens: as it is on the console, or as a log entry
    /// (<c>--log-format json</c>) so that every line of the output is JSON.</summary>
    public static async Task AnnounceAsync(TextWriter output, ILogger logger, bool jsonLogs, string line)
    {
        if (jsonLogs)
        {
            LogAnnouncement(logger, line);
            return;
        }

        await output.WriteLineAsync(line);
        await output.FlushAsync(CancellationToken.None);
    }

    [LoggerMessage(30, Microsoft.Extensions.Logging.LogLevel.Information, "{Announcement}")]
    private static partial void LogAnnouncement(ILogger logger, string announcement);

    public static ILoggerFactory CreateLoggerFactory(LogLevel level, string format = "simple") =>
        LoggerFactory.Create(builder => ConfigureLogging(builder, level, format));

    private static void ConfigureLogging(ILoggingBuilder builder, LogLevel level, string format)
    {
        builder
            .SetMinimumLevel(level)
            // The NATS client's own chatter (the server's INFO, each consumer it creates) only when debugging.
            .AddFilter("NATS.Client.Core.Internal", level <= Microsoft.Extensions.Logging.LogLevel.Debug ? level : Microsoft.Extensions.Logging.LogLevel.Warning)
            .AddFilter("NATS.Client.JetStream", level <= Microsoft.Extensions.Logging.LogLevel.Debug ? level : Microsoft.Extensions.Logging.LogLevel.Warning);
        if (format == "json")
        {
            builder.AddJsonConsole(json =>
            {
                json.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                json.UseUtcTimestamp = true;
                json.JsonWriterOptions = new System.Text.Json.JsonWriterOptions { Indented = false };
            });
            return;
        }

        builder.AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.TimestampFormat = "HH:mm:ss.fff ";
            console.ColorBehavior = Terminal.LoggerColors;
        });
    }

    /// <summary>Server TLS: <c>--tls-cert FILE</c> (PFX or PEM), <c>--tls-key FILE</c> (PEM key, when separate), <c>--tls-password</c> (PFX).</summary>
    public static (Option<string?> Certificate, Option<string?> Key, Option<string?> Password) ServerTls() =>
    (
        new Option<string?>("--tls-cert") { Description = "Serve TLS with this certificate: a PFX file, or PEM (with the key in it or in --tls-key). 'parley cert create' makes a development one." },
        new Option<string?>("--tls-key") { Description = "PEM private key for --tls-cert, when it is not in the same file." },
        new Option<string?>("--tls-password") { Description = "Password of the --tls-cert PFX file. Better given as PARLEY_TLS_PASSWORD or PARLEY_TLS_PASSWORD_FILE (a file holding it): a command line is visible to every user of the machine." });

    /// <summary>Loads the server TLS options from the parsed <c>--tls-*</c> values; null without <c>--tls-cert</c>.</summary>
    /// <exception cref="ArgumentException">The certificate cannot be loaded; the message says why.</exception>
    public static TlsServerOptions? LoadServerTls(string? certificate, string? key, string? password)
    {
        if (certificate is null)
        {
            return null;
        }

        try
        {
            return new TlsServerOptions { Certificate = TlsServerOptions.LoadCertificate(certificate, password, key) };
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            throw new ArgumentException($"--tls-cert {certificate}: {ex.Message}", ex);
        }
    }
}
