using System.Text.Json;

namespace Parley.Cli.Tests;

/// <summary>bench abuse runs its whole schedule and reports what the honest client saw.</summary>
public class AbuseBenchTests
{
    [Fact]
    public async Task A_short_abuse_run_reports_the_honest_clients_acknowledged_messages_and_the_servers_memory()
    {
        await using ParleyProcess bench = ParleyProcess.Start("bench", "abuse", "--warmup", "1", "--duration", "3", "--after", "1", "--json");
        Assert.Equal(0, await bench.WaitForExitAsync());
        using JsonDocument result = bench.JsonOutput();
        JsonElement root = result.RootElement;
        Assert.False(root.GetProperty("honest_disconnected").GetBoolean());
        Assert.True(root.GetProperty("acknowledged").GetInt64() > 0);
        Assert.True(root.GetProperty("sent").GetInt64() >= root.GetProperty("acknowledged").GetInt64());
        Assert.True(root.GetProperty("attack_connections").GetInt64() > 400, root.ToString()); // every attacker connected at least once
        Assert.True(root.GetProperty("idle_rss_mb").GetDouble() > 0);
        Assert.True(root.GetProperty("peak_rss_mb").GetDouble() >= root.GetProperty("idle_rss_mb").GetDouble() - 1);
    }
}
