using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Parley.Hosting;

/// <summary>The chat server listens: started, and not stopping.</summary>
internal sealed class ChatListeningHealthCheck(ParleyChatService service) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(service.IsListening
            ? HealthCheckResult.Healthy($"listening on {service.LocalEndPoint}, {service.Chat?.SessionCount ?? 0} sessions")
            : HealthCheckResult.Unhealthy("not listening (not started, or stopping)"));
}

/// <summary>
/// The data folder takes writes: a small file is created, written, flushed to the disk and deleted
/// in it. A full disk, a read-only mount or lost permissions turn this unhealthy before the next
/// message would be refused with <c>storage_failed</c>.
/// </summary>
internal sealed class JournalWritableHealthCheck(ParleyChatService service) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        string folder = Path.GetFullPath(service.Settings.DataDirectory);
        string probe = Path.Combine(folder, $".health-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            await using (var file = new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose))
            {
                file.WriteByte(1);
                file.Flush(flushToDisk: true);
            }

            return HealthCheckResult.Healthy($"{folder} is writable");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return HealthCheckResult.Unhealthy($"{folder} cannot be written: {ex.Message}", ex);
        }
    }
}

/// <summary>The cluster node is connected to NATS (only with <see cref="ParleyChatSettings.Cluster"/>).</summary>
internal sealed class BackplaneConnectedHealthCheck(ParleyChatService service) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(service.Backplane switch
        {
            null => HealthCheckResult.Healthy("not a cluster node"),
            { Connected: true } backplane => HealthCheckResult.Healthy($"node {backplane.NodeName} is connected to NATS"),
            { } backplane => HealthCheckResult.Unhealthy($"node {backplane.NodeName} is not connected to NATS"),
        });
}

/// <summary>A server added with <c>AddParleyServer&lt;THandler&gt;</c> listens.</summary>
internal sealed class ServerListeningHealthCheck<THandler>(ParleyServerService<THandler> service) : IHealthCheck
    where THandler : ParleyConnectionHandler
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(service.IsListening
            ? HealthCheckResult.Healthy($"listening on {service.LocalEndPoint}, {service.Server?.ConnectionCount ?? 0} connections")
            : HealthCheckResult.Unhealthy("not listening (not started, or stopping)"));
}
