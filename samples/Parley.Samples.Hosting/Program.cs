using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Parley;
using Parley.Hosting;

// The Parley chat server and an echo server in one Generic Host application: settings from
// appsettings.json, environment variables (Parley__Chat__Port=9000) and the command line
// (--Parley:Chat:Port 9000); a systemd Type=notify service when run by systemd; Ctrl-C or
// SIGTERM stops both gracefully; a setting that is wrong stops it with one line and exit code 2.
// appsettings.json beside the program, wherever it is started from.
HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.Services.AddSystemd();
builder.Services.AddParleyChat(builder.Configuration.GetSection("Parley:Chat"));
builder.Services.AddParleyServer<EchoHandler>(builder.Configuration.GetSection("Parley:Echo"));
builder.Services.AddHostedService<HealthLog>();
try
{
    await builder.Build().RunAsync();
    return 0;
}
catch (Exception ex) when (ex is Microsoft.Extensions.Options.OptionsValidationException or InvalidOperationException)
{
    // A bad setting, a damaged journal, a taken port: one line saying which, and a non-zero exit
    // (the host's own failure log, a stack trace, is turned off in appsettings.json).
    await Console.Error.WriteLineAsync($"Parley.Samples.Hosting: cannot start: {ex.Message}");
    return 2;
}

/// <summary>Sends every message back to its sender.</summary>
internal sealed class EchoHandler : ParleyConnectionHandler
{
    public override async Task OnConnectedAsync(Connection connection, CancellationToken cancellationToken)
    {
        await foreach (System.Buffers.ReadOnlySequence<byte> message in connection.ReadMessagesAsync(cancellationToken))
        {
            connection.Send(message);
        }
    }
}

/// <summary>Logs the health checks' report once the servers have started, then whenever it changes.</summary>
internal sealed partial class HealthLog(HealthCheckService health, ILogger<HealthLog> logger, IHostApplicationLifetime lifetime) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource();
        using CancellationTokenRegistration registration = lifetime.ApplicationStarted.Register(started.SetResult);
        await started.Task.WaitAsync(stoppingToken);
        HealthStatus? last = null;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(10));
        do
        {
            HealthReport report = await health.CheckHealthAsync(stoppingToken);
            if (report.Status != last)
            {
                last = report.Status;
                LogHealth(logger, report.Status, string.Join("; ", report.Entries.Select(entry => $"{entry.Key}: {entry.Value.Status} ({entry.Value.Description})")));
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    [LoggerMessage(1, LogLevel.Information, "health: {Status} — {Entries}")]
    private static partial void LogHealth(ILogger logger, HealthStatus status, string entries);
}
