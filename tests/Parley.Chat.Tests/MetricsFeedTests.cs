using System.Text.Json;

namespace Parley.Chat.Tests;

/// <summary><c>watch_metrics</c>: the dashboard's feed over the chat protocol.</summary>
public sealed class MetricsFeedTests
{
    [Fact]
    public async Task A_watcher_gets_the_history_then_each_published_event_until_it_unwatches()
    {
        var feed = new ChatMetricsFeed { History = """{"_et":"metrics_history","interval":1,"samples":[{"stored":1}]}"""u8.ToArray() };
        await using ChatHarness harness = ChatHarness.Start(options => options.MetricsFeed = feed);
        await using TestClient watcher = harness.Connect();
        await using TestClient bystander = harness.Connect();
        await watcher.ExpectAsync("login_successful");
        await bystander.ExpectAsync("login_successful");

        watcher.Send("""{"_ct":"watch_metrics"}""");
        JsonElement history = await watcher.ExpectAsync("metrics_history");
        Assert.Equal(1, history.GetProperty("samples")[0].GetProperty("stored").GetInt32());
        Assert.Equal(1, feed.WatcherCount);

        Assert.Equal(1, feed.Publish("""{"_et":"metrics","stored":2}"""u8));
        Assert.Equal(2, (await watcher.ExpectAsync("metrics")).GetProperty("stored").GetInt32());

        watcher.Send("""{"_ct":"watch_metrics"}"""); // again: no second history, no second membership
        watcher.Send("""{"_ct":"unwatch_metrics"}""");
        watcher.Send("""{"_ct":"ping"}""");
        await watcher.ExpectAsync("pong");
        Assert.Equal(0, feed.Publish("""{"_et":"metrics","stored":3}"""u8));

        bystander.Send("""{"_ct":"ping"}""");
        await bystander.ExpectAsync("pong"); // never a metrics event for one that did not ask
    }

    [Fact]
    public async Task Without_a_feed_watch_metrics_is_an_unknown_command()
    {
        await using ChatHarness harness = ChatHarness.Start();
        await using TestClient client = harness.Connect();
        await client.ExpectAsync("login_successful");

        client.Send("""{"_ct":"watch_metrics","ref":5}""");

        JsonElement error = await client.ExpectAsync("error");
        Assert.Equal("unknown_command", error.GetProperty("code").GetString());
        Assert.Equal(5, error.GetProperty("ref").GetInt64());
    }

    [Fact]
    public async Task With_auth_required_only_a_logged_in_session_may_watch()
    {
        var feed = new ChatMetricsFeed();
        await using ChatHarness harness = ChatHarness.Start(options =>
        {
            options.MetricsFeed = feed;
            options.Auth = AuthMode.Required;
        });
        await using TestClient stranger = harness.Connect();

        stranger.Send("""{"_ct":"watch_metrics"}""");

        Assert.Equal("not_logged_in", (await stranger.ExpectAsync("error")).GetProperty("code").GetString());
        Assert.Equal(0, feed.WatcherCount);
    }
}
