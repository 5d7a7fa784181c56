using System.Net;
using Microsoft.Extensions.Logging;
using Parley.Chat;
using Parley.Chat.Nats;

namespace Parley.Hosting;

/// <summary>Turns validated settings into the libraries' options.</summary>
internal static class ServerFactory
{
    public static ParleyServerOptions CreateServerOptions(ParleyListenSettings settings, ILoggerFactory loggers)
    {
        if (!ListenAddress.TryParse(settings.Host, out IPAddress? address))
        {
            throw new InvalidOperationException($"'{settings.Host}' is not an IP address."); // validated at start: not reached
        }

        var options = new ParleyServerOptions
        {
            EndPoint = new IPEndPoint(address, settings.Port),
            MaxConnections = settings.MaxConnections,
            MaxConnectionsPerAddress = settings.MaxConnectionsPerAddress,
            ListenBacklog = settings.ListenBacklog,
            SharePort = settings.SharePort,
            ShutdownTimeout = settings.ShutdownTimeout,
            LoggerFactory = loggers,
        };
        if (settings.MaxSendQueueBytes is { } queue)
        {
            options.MaxSendQueueBytes = queue;
        }

        if (settings.Tls.CertificatePath is { Length: > 0 } certificate)
        {
            try
            {
                options.Tls = new TlsServerOptions
                {
                    Certificate = TlsServerOptions.LoadCertificate(certificate, settings.Tls.Password, settings.Tls.KeyPath),
                    MaxHandshakesPerAddress = settings.Tls.MaxHandshakesPerAddress,
                };
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
            {
                throw new InvalidOperationException($"The certificate {certificate} cannot be loaded: {ex.Message}", ex);
            }
        }

        return options;
    }

    public static MessageFramer CreateFramer(ParleyServerSettings settings) => settings.Framing switch
    {
        "line" => new LineFramer(settings.MaxMessageSize ?? LineFramer.DefaultMaxLineLength),
        "raw" => new RawFramer(settings.MaxMessageSize ?? RawFramer.DefaultMaxMessageSize),
        _ => new LengthPrefixedFramer(settings.MaxMessageSize ?? LengthPrefixedFramer.DefaultMaxMessageSize),
    };

    public static ChatServerOptions CreateChatOptions(ParleyChatSettings settings, ILoggerFactory loggers)
    {
        var options = new ChatServerOptions
        {
            DataDirectory = settings.DataDirectory,
            Auth = settings.Auth == "required" ? AuthMode.Required : AuthMode.Open,
            Durability = settings.Durability switch
            {
                "always" => Parley.Journal.JournalDurability.Always,
                "none" => Parley.Journal.JournalDurability.None,
                _ => Parley.Journal.JournalDurability.Batch,
            },
            MaxMessageBytes = settings.MaxMessageBytes,
            HistoryBytesPerRoom = settings.HistoryBytesPerRoom,
            MaxJournalBytes = settings.MaxJournalBytes,
            AcceptJournalDamage = settings.AcceptJournalDamage,
            LoginTimeout = settings.LoginTimeout,
            MaxCommandsPerSecond = settings.MaxCommandsPerSecond,
            LoggerFactory = loggers,
        };
        if (settings.RoomsFile is { Length: > 0 } rooms)
        {
            try
            {
                options.Rooms = RoomsFile.Load(rooms);
            }
            catch (RoomsFileException ex)
            {
                throw new InvalidOperationException(ex.Message, ex);
            }
        }

        return options;
    }

    public static NatsChatBackplaneOptions? CreateBackplaneOptions(ParleyChatSettings settings, long maxStreamBytes, ILoggerFactory loggers)
    {
        if (settings.Cluster.Url is not { Length: > 0 } url)
        {
            return null;
        }

        var options = new NatsChatBackplaneOptions
        {
            Url = url,
            StreamName = settings.Cluster.Stream,
            Replicas = settings.Cluster.Replicas,
            CredentialsFile = settings.Cluster.CredentialsFile,
            MaxStreamBytes = maxStreamBytes,
            LoggerFactory = loggers,
        };
        if (settings.Cluster.NodeName is { Length: > 0 } node)
        {
            options.NodeName = node;
        }

        return options;
    }
}
