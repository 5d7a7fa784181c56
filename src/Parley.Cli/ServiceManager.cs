using Microsoft.Extensions.Hosting.Systemd;

namespace Parley.Cli;

/// <summary>
/// Tells systemd (a <c>Type=notify</c> unit, deploy/parley.service) when a server is ready and when
/// it is stopping, through <c>$NOTIFY_SOCKET</c> (Microsoft.Extensions.Hosting.Systemd's notifier).
/// Without that variable — not started by systemd — it does nothing.
/// </summary>
internal static class ServiceManager
{
    private static readonly SystemdNotifier Notifier = new();

    /// <summary>READY=1: listening; <c>systemctl start</c> returns and units ordered after it start.</summary>
    public static void Ready() => Notify(ServiceState.Ready);

    /// <summary>STOPPING=1: draining connections and flushing before exit.</summary>
    public static void Stopping() => Notify(ServiceState.Stopping);

    /// <summary>Sends a state; a socket that cannot be reached (a stale or wrong <c>NOTIFY_SOCKET</c>)
    /// is said once on standard error and never stops the server.</summary>
    private static void Notify(ServiceState state)
    {
        if (!Notifier.IsEnabled)
        {
            return;
        }

        try
        {
            Notifier.Notify(state);
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or ArgumentException or IOException or UnauthorizedAccessException)
        {
            if (Interlocked.Exchange(ref _warned, 1) == 0)
            {
                Console.Error.WriteLine($"parley: warning: cannot notify systemd at NOTIFY_SOCKET={Environment.GetEnvironmentVariable("NOTIFY_SOCKET")}: {ex.Message}");
            }
        }
    }

    private static int _warned;
}
