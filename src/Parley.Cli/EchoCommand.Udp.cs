using Microsoft.Extensions.Logging;
using Parley.Udp;

namespace Parley.Cli;

internal static partial class EchoCommand
{
    /// <summary>A reliable-UDP echo peer: every message goes back on its channel, in its delivery mode.</summary>
    public static async Task<int> RunUdpAsync(EchoSettings settings, ILoggerFactory loggers, TextWriter output, CancellationToken cancellationToken)
    {
        ILogger logger = loggers.CreateLogger("parley.echo");
        var options = new UdpHostOptions
        {
            MaxPeers = settings.MaxConnections,
            MaxMessageSize = settings.MaxMessageSize ?? new UdpHostOptions().MaxMessageSize,
            LoggerFactory = loggers,
        };
        options.ReceiveWindowBytes = Math.Max(options.ReceiveWindowBytes, 2 * options.MaxMessageSize);
        options.MaxPendingBytes = Math.Max(options.MaxPendingBytes, options.MaxMessageSize);
        options.MaxReassemblyBytes = Math.Max(options.MaxReassemblyBytes, 2L * options.MaxMessageSize);
        options.MaxPeersPerAddress = settings.UdpSessionsPerAddress ?? options.MaxPeersPerAddress;

        UdpHost host;
        try
        {
            host = UdpHost.Start(settings.EndPoint, options);
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            LogBindFailed(logger, settings.EndPoint.ToString(), ex.Message);
            return 2;
        }
        catch (ArgumentException ex)
        {
            await Console.Error.WriteLineAsync($"parley echo: {ex.Message}");
            return 2;
        }

        await using (host)
        {
            long refused = 0;
            host.PeerConnected += peer => LogUdpOpened(logger, peer.RemoteEndPoint, peer.LocalSessionId);
            host.PeerDisconnected += peer =>
            {
                UdpStatistics stats = peer.GetStatistics();
                LogUdpClosed(logger, peer.RemoteEndPoint, peer.LocalSessionId, peer.CloseReason, stats.MessagesReceived, stats.MessagesSent, stats.Retransmissions);
            };
            host.MessageReceived += (UdpPeer peer, in UdpMessage message) =>
            {
                if (peer.Send(message.Data, message.Mode, message.Channel).Status != SendStatus.Queued)
                {
                    Interlocked.Increment(ref refused); // handlers of different peers run concurrently; the peer's queue is full: the echo is dropped and counted (the sender sees no echo)
                }
            };

            await CommonOptions.AnnounceAsync(output, logger, settings.JsonLogs, $"parley echo listening on udp {host.LocalEndPoint} (reliable UDP; every message returns on its channel and mode); Ctrl-C stops.");
            ServiceManager.Ready();
            try
            {
                while (true)
                {
                    await Task.Delay(settings.SummaryInterval > TimeSpan.Zero ? settings.SummaryInterval : Timeout.InfiniteTimeSpan, cancellationToken);
                    LogUdpSummary(logger, host.PeerCount, host.GetStatistics(), Interlocked.Read(ref refused));
                }
            }
            catch (OperationCanceledException)
            {
                // Ctrl-C or SIGTERM: close the sessions below
            }

            ServiceManager.Stopping();
            LogStopping(logger, host.PeerCount);
        }

        LogStopped(logger);
        return 0;
    }

    [LoggerMessage(20, LogLevel.Information, "open udp {RemoteEndPoint} #{SessionId:x8}")]
    private static partial void LogUdpOpened(ILogger logger, System.Net.EndPoint remoteEndPoint, uint sessionId);

    [LoggerMessage(21, LogLevel.Information, "close udp {RemoteEndPoint} #{SessionId:x8} reason={Reason} messages in={MessagesIn} out={MessagesOut} retransmissions={Retransmissions}")]
    private static partial void LogUdpClosed(ILogger logger, System.Net.EndPoint remoteEndPoint, uint sessionId, CloseReason reason, long messagesIn, long messagesOut, long retransmissions);

    [LoggerMessage(22, LogLevel.Information, "udp peers={Peers} {Statistics} echoes refused (queue full)={Refused}")]
    private static partial void LogUdpSummary(ILogger logger, int peers, UdpStatistics statistics, long refused);
}
