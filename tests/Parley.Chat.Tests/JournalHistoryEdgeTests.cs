using System.Text.Json;

namespace Parley.Chat.Tests;

/// <summary>History from the journal at its edges: damage, retention racing a waiting page, hostile arguments, a busy room.</summary>
public class JournalHistoryEdgeTests
{
    private static List<long> Ids(JsonElement page) => [.. page.GetProperty("ms").EnumerateArray().Select(m => m.GetProperty("id").GetInt64())];

    private static async Task<List<long>> SendAsync(TestClient client, string room, int count, string prefix)
    {
        var ids = new List<long>();
        for (int i = 0; i < count; i++)
        {
            client.Send($$"""{"_ct":"send_message","r":"{{room}}","c":"{{prefix}}{{i}}"}""");
            ids.Add((await client.WaitForAsync("message_ack")).GetProperty("id").GetInt64());
        }

        return ids;
    }

    [Fact]
    public async Task A_segment_with_a_damaged_header_does_not_leave_an_empty_page_that_says_more()
    {
        string directory;
        List<long> ids;
        await using (var harness = ChatHarness.Start(o =>
        {
            o.HistoryBytesPerRoom = 1024;
            o.ConfigureJournal = j => j.SegmentBytes = 4 * 1024;
        }))
        {
            directory = harness.Directory;
            TestClient client = await harness.ConnectJoinedAsync("general");
            ids = await SendAsync(client, "general", 100, new string('p', 100));
            await harness.StopServerAsync();

            // One flipped bit in the oldest segment's header: the journal still opens (the records
            // are read by their own checksums, no damage to accept) and replays every message.
            string segment = Directory.GetFiles(ChatServer.JournalPath(directory), "*.seg").Order(StringComparer.Ordinal).First();
            byte[] bytes = File.ReadAllBytes(segment);
            bytes[9] ^= 0x01;
            File.WriteAllBytes(segment, bytes);

            await using var restarted = ChatHarness.Start(o =>
            {
                o.HistoryBytesPerRoom = 1024;
                o.ConfigureJournal = j => j.SegmentBytes = 4 * 1024;
            }, directory);
            TestClient later = await restarted.ConnectJoinedAsync("general");
            later.Send($$"""{"_ct":"history","r":"general","before":{{ids[10]}},"limit":5}""");
            JsonElement page = await later.WaitForAsync("history");
            Assert.True(Ids(page).Count > 0 || !page.GetProperty("more").GetBoolean(), $"an empty page says more: {page}");
            Assert.Equal(ids[5..10], Ids(page)); // the messages the server replayed at start
        }
    }

    [Fact]
    public async Task Segments_deleted_while_a_page_waits_for_its_turn_do_not_leave_an_empty_page_that_says_more()
    {
        // A 32 KiB journal in 4 KiB segments; the ring holds a few messages. The page from the
        // journal is held when its turn comes (as behind another client's page), with its ids
        // already taken; meanwhile the chat goes on and retention deletes their segments.
        var turn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var harness = ChatHarness.Start(o =>
        {
            o.HistoryBytesPerRoom = 1024;
            o.MaxJournalBytes = 32 * 1024;
            o.ConfigureJournal = j => j.SegmentBytes = 4 * 1024;
            o.BeforeJournalPage = () =>
            {
                turn.TrySetResult();
                return release.Task;
            };
        });
        TestClient client = await harness.ConnectJoinedAsync("general");
        TestClient noisy = await harness.ConnectJoinedAsync("random");
        string pad = new('p', 200);
        List<long> ids = await SendAsync(client, "general", 60, pad);

        client.Send("""{"_ct":"history","r":"general","limit":200}""");
        JsonElement ring = await client.WaitForAsync("history");
        Assert.True(ring.GetProperty("more").GetBoolean());
        long ringFirst = Ids(ring)[0];

        client.Send($$"""{"_ct":"history","r":"general","before":{{ringFirst}},"limit":20}""");
        await turn.Task.WaitAsync(ChatHarness.Timeout);
        await SendAsync(noisy, "random", 400, pad);
        long oldestKept = Directory.GetFiles(ChatServer.JournalPath(harness.Directory), "*.seg").Min(f => long.Parse(Path.GetFileNameWithoutExtension(f)));
        Assert.True(oldestKept > ids[^1], $"retention deleted every general message (oldest segment starts at {oldestKept})");
        release.SetResult();

        JsonElement page = await client.WaitForAsync("history");
        Assert.Empty(Ids(page));
        Assert.False(page.GetProperty("more").GetBoolean(), $"an empty page says more: {page}");
    }

    [Fact]
    public async Task Hostile_before_and_limit_values_give_sane_pages()
    {
        await using var harness = ChatHarness.Start(o => o.HistoryBytesPerRoom = 1024);
        TestClient client = await harness.ConnectJoinedAsync("general");
        List<long> ids = await SendAsync(client, "general", 60, new string('p', 100));
        foreach (string args in new[]
        {
            "\"limit\":0", "\"limit\":-1", "\"limit\":1000000000", "\"before\":-5", "\"before\":0",
            "\"before\":9223372036854775807", "\"before\":1,\"limit\":200", $"\"before\":{ids[1]},\"limit\":-7",
        })
        {
            client.Send($$"""{"_ct":"history","r":"general",{{args}}}""");
            JsonElement reply = await client.NextAsync();
            while (reply.GetProperty("_et").GetString() is "user_message")
            {
                reply = await client.NextAsync();
            }

            if (reply.GetProperty("_et").GetString() == "history")
            {
                List<long> got = Ids(reply);
                Assert.True(got.Count > 0 || !reply.GetProperty("more").GetBoolean(), $"{args}: {reply}");
                Assert.Equal(got.Order(), got);
            }
        }

        // Still answering.
        client.Send($$"""{"_ct":"history","r":"general","before":{{ids[1]}},"limit":5}""");
        Assert.Equal(ids[..1], Ids(await client.WaitForAsync("history")));
    }

    [Fact]
    public async Task Paging_back_while_the_room_is_busy_sees_every_older_message_once()
    {
        await using var harness = ChatHarness.Start(o => o.HistoryBytesPerRoom = 2048);
        TestClient reader = await harness.ConnectJoinedAsync("random");
        TestClient writer = await harness.ConnectJoinedAsync("general");
        List<long> ids = await SendAsync(writer, "general", 300, "m");
        Task<List<long>> more = SendAsync(writer, "general", 1500, "n");

        var seen = new List<long>();
        long before = ids[^1] + 1;
        for (int pages = 0; pages < 1000; pages++)
        {
            reader.Send($$"""{"_ct":"history","r":"general","before":{{before}},"limit":7}""");
            JsonElement page = await reader.WaitForAsync("history");
            List<long> got = Ids(page);
            Assert.True(got.Count > 0 || !page.GetProperty("more").GetBoolean(), page.ToString());
            seen.InsertRange(0, got);
            if (!page.GetProperty("more").GetBoolean())
            {
                break;
            }

            before = got[0];
        }

        await more;
        Assert.Equal(ids, seen);
    }
}
