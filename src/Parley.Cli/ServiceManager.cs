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
    public static void Ready()
    {
        if (Notifier.IsEnabled)
        {
            Notifier.Notify(ServiceState.Ready);
        }
    }

    /// <summary>STOPPING=1: draining connections and flushing before exit.</summary>
    public static void Stopping()
    {
        if (Notifier.IsEnabled)
        {
            Notifier.Notify(ServiceState.Stopping);
        }
    }
}
