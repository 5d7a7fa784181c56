using System.Text.Json;

namespace Parley.Chat.Tests;

/// <summary><c>history</c> older than a room's in-memory ring: read from the journal.</summary>
public class JournalHistoryTests
{
    private static IEnumerable<string> Contents(JsonElement page) => page.GetProperty("ms").EnumerateArray().Select(m => m.GetProperty("c").GetString()!);

    private static IEnumerable<long> Ids(JsonElement page) => page.GetProperty("ms").EnumerateArray().Select(m => m.GetProperty("id").GetInt64());

    /// <summary>Sends <paramref name="count"/> messages to general, interleaved with other rooms' when <paramref name="other"/> is set; returns the general ids.</summary>
    private static async Task<List<long>> SendAsync(TestClient client, int count, string prefix, TestClient? other = null)
    {
        var ids = new List<long>();
        for (int i = 0; i < count; i++)
        {
            client.Send($$"""{"_ct":"send_message","r":"general","c":"{{prefix}}{{i}}"}""");
            ids.Add((await client.WaitForAsync("message_ack")).GetProperty("id").GetInt64());
            if (other is not null)
            {
                other.Send($$"""{"_ct":"send_message","r":"random","c":"noise{{i}}"}""");
                await other.WaitForAsync("message_ack");
            }
        }

        return ids;
    }

    /// <summary>Pages back from the newest to the oldest, returning every message's content, oldest first.</summary>
    private static async Task<List<string>> PageBackAsync(TestClient client, int limit)
    {
        var all = new List<string>();
        long? before = null;
        for (int pages = 0; pages < 10_000; pages++)
        {
            client.Send(before is null
                ? $$"""{"_ct":"history","r":"general","limit":{{limit}}}"""
                : $$"""{"_ct":"history","r":"general","before":{{before}},"limit":{{limit}}}""");
            JsonElement page = await client.WaitForAsync("history");
            List<long> ids = [.. Ids(page)];
            Assert.True(ids.Count > 0 || !page.GetProperty("more").GetBoolean(), "an empty page must say there is no more");
            Assert.Equal(ids.Order(), ids);
            Assert.All(ids, id => Assert.True(before is null || id < before));
            all.InsertRange(0, Contents(page));
            if (!page.GetProperty("more").GetBoolean())
            {
                return all;
            }

            before = ids[0];
        }

        throw new InvalidOperationException("paging did not end");
    }

    [Fact]
    public async Task Paging_back_past_the_ring_reads_every_older_message_from_the_journal()
    {
        // A ring of 1 KiB holds a dozen of these; 300 were sent, interleaved with another room's.
        await using var harness = ChatHarness.Start(o => o.HistoryBytesPerRoom = 1024);
        TestClient client = await harness.ConnectJoinedAsync("general");
        TestClient noisy = await harness.ConnectJoinedAsync("random");
        List<long> ids = await SendAsync(client, 300, "m", noisy);
        Assert.True(harness.Server.HistoryBytes > 0);

        List<string> all = await PageBackAsync(client, limit: 37);
        Assert.Equal(Enumerable.Range(0, 300).Select(i => $"m{i}"), all);
    }

    [Fact]
    public async Task A_page_that_reaches_the_ring_start_says_more_and_the_next_page_comes_from_the_journal()
    {
        await using var harness = ChatHarness.Start(o => o.HistoryBytesPerRoom = 1024);
        TestClient client = await harness.ConnectJoinedAsync("general");
        List<long> ids = await SendAsync(client, 100, "m");

        client.Send("""{"_ct":"history","r":"general","limit":200}""");
        JsonElement ring = await client.WaitForAsync("history");
        List<long> inRing = [.. Ids(ring)];
        Assert.True(inRing.Count is > 0 and < 100, $"the ring holds part of the messages ({inRing.Count})");
        Assert.True(ring.GetProperty("more").GetBoolean(), "older messages are in the journal");
        Assert.Equal(ids[^inRing.Count..], inRing);

        client.Send($$"""{"_ct":"history","r":"general","before":{{inRing[0]}},"limit":5}""");
        JsonElement older = await client.WaitForAsync("history");
        int end = 100 - inRing.Count;
        Assert.Equal(ids[(end - 5)..end], Ids(older));
        Assert.Equal(Enumerable.Range(end - 5, 5).Select(i => $"m{i}"), Contents(older));
        Assert.True(older.GetProperty("more").GetBoolean());

        // The oldest page: more is false, nothing before it.
        client.Send($$"""{"_ct":"history","r":"general","before":{{ids[3]}},"limit":50}""");
        JsonElement oldest = await client.WaitForAsync("history");
        Assert.Equal(ids[..3], Ids(oldest));
        Assert.False(oldest.GetProperty("more").GetBoolean());
        client.Send($$"""{"_ct":"history","r":"general","before":{{ids[0]}}}""");
        JsonElement none = await client.WaitForAsync("history");
        Assert.Empty(Ids(none));
        Assert.False(none.GetProperty("more").GetBoolean());
    }

    [Fact]
    public async Task After_a_restart_messages_older_than_the_rebuilt_ring_come_from_the_journal()
    {
        string directory;
        List<long> ids;
        await using (var harness = ChatHarness.Start(o => o.HistoryBytesPerRoom = 1024))
        {
            directory = harness.Directory;
            TestClient client = await harness.ConnectJoinedAsync("general");
            ids = await SendAsync(client, 120, "m");
            await harness.StopServerAsync();
            await using var restarted = ChatHarness.Start(o => o.HistoryBytesPerRoom = 1024, directory);
            TestClient later = await restarted.ConnectJoinedAsync("general");
            Assert.Equal(Enumerable.Range(0, 120).Select(i => $"m{i}"), await PageBackAsync(later, limit: 50));
        }
    }

    [Fact]
    public async Task A_page_from_the_journal_is_cut_to_one_event_and_says_more()
    {
        // 20 messages of 15 000 bytes: one event (64 KiB, raised to fit the largest user_message) holds a few of them.
        await using var harness = ChatHarness.Start(o =>
        {
            o.HistoryBytesPerRoom = 1024;
            o.MaxMessageBytes = 16_000;
            o.MaxEventBytes = 64 * 1024;
        });
        TestClient client = await harness.ConnectJoinedAsync("general");
        var ids = new List<long>();
        for (int i = 0; i < 20; i++)
        {
            client.Send($$"""{"_ct":"send_message","r":"general","c":"{{i:D2}}{{new string('x', 14_998)}}"}""");
            ids.Add((await client.WaitForAsync("message_ack")).GetProperty("id").GetInt64());
        }

        client.Send($$"""{"_ct":"history","r":"general","before":{{ids[19]}},"limit":200}""");
        JsonElement page = await client.WaitForAsync("history");
        List<long> got = [.. Ids(page)];
        Assert.InRange(got.Count, 1, 10);
        Assert.Equal(ids[(19 - got.Count)..19], got); // the newest that fit
        Assert.True(page.GetProperty("more").GetBoolean());
    }

    [Fact]
    public async Task Messages_the_journal_deleted_are_not_offered()
    {
        // A 32 KiB journal in 4 KiB segments: most of 600 messages are deleted.
        await using var harness = ChatHarness.Start(o =>
        {
            o.HistoryBytesPerRoom = 1024;
            o.MaxJournalBytes = 32 * 1024;
            o.ConfigureJournal = j => j.SegmentBytes = 4 * 1024;
        });
        TestClient client = await harness.ConnectJoinedAsync("general");
        string pad = new('p', 200);
        List<long> ids = await SendAsync(client, 600, pad);

        List<string> all = await PageBackAsync(client, limit: 100);
        Assert.True(all.Count < 600, $"retention deleted the oldest ({all.Count} offered)");
        Assert.True(all.Count > 50, $"what the journal keeps is offered ({all.Count})");
        int first = int.Parse(all[0][pad.Length..]);
        Assert.Equal(Enumerable.Range(first, 600 - first).Select(i => $"{pad}{i}"), all); // no holes
    }
}

public class JournalRetentionTests
{
    [Fact]
    public async Task The_journal_keeps_to_its_limit_and_the_segment_being_written()
    {
        await using var harness = ChatHarness.Start(o =>
        {
            o.MaxJournalBytes = 1024 * 1024;
            o.MaxCommandsPerSecond = 1_000_000;
        });
        TestClient client = await harness.ConnectJoinedAsync();
        string content = new('j', 300);
        for (int i = 0; i < 6000; i++)
        {
            client.Send($$"""{"_ct":"send_message","r":"general","c":"{{content}}","ref":{{i}}}""");
            if (i % 100 == 99)
            {
                // Acknowledged a hundred at a time: a journal batch (never split across segments)
                // stays far below a segment, whatever the machine's timing.
                while ((await client.WaitForAsync("message_ack")).GetProperty("ref").GetInt64() != i)
                {
                }
            }
        }

        // Segments are an eighth of the limit (a batch larger than that fills one alone); the
        // closed ones together stay within the limit, the one being written comes on top.
        string[] segments = [.. Directory.GetFiles(ChatServer.JournalPath(harness.Directory), "*.seg").Order()];
        long total = segments.Sum(f => new FileInfo(f).Length);
        long closed = total - new FileInfo(segments[^1]).Length;
        Assert.True(segments.Length > 2, $"segments of an eighth of the limit ({segments.Length})");
        Assert.True(closed <= 1024 * 1024, $"{closed} bytes in closed segments for a 1 MiB limit");
        Assert.True(total > 512 * 1024, $"{total} bytes kept: retention deletes only what is past the limit");
    }
}
