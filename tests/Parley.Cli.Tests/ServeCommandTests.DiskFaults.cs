using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Parley.Chat;
using Parley.Journal;

namespace Parley.Cli.Tests;

/// <summary>Issue 16, disk faults, on the real process: a file-size limit (EFBIG) is a refused send, not a dead server.</summary>
public sealed partial class ServeCommandTests
{
    private const long FileSizeLimit = 1024 * 1024;

    private static string Message(string content) => JsonSerializer.Serialize(new Dictionary<string, string>
    {
        ["_ct"] = "send_message",
        ["r"] = "general",
        ["c"] = content,
    });

    /// <summary>Sends a message and returns its id when acknowledged, or null when refused with storage_failed.</summary>
    private static async Task<long?> TrySendAsync(LineClient client, string content)
    {
        await client.SendAsync(Message(content));
        while (true)
        {
            JsonElement next = await client.NextAsync() ?? throw new IOException("closed while a message was sent");
            string? type = next.GetProperty("_et").GetString();
            if (type == "message_ack")
            {
                return next.GetProperty("id").GetInt64();
            }

            if (type == "error")
            {
                Assert.Equal(ErrorCodes.StorageFailed, next.GetProperty("code").GetString());
                return null;
            }
        }
    }

    private static async Task<LineClient> JoinedAsync(IPEndPoint endPoint)
    {
        LineClient client = await LineClient.ConnectAsync(endPoint);
        await client.WaitForAsync("login_successful");
        await client.SendAsync("""{"_ct":"join_room","r":"general"}""");
        await client.WaitForAsync("room_participation");
        return client;
    }

    private static async Task RunToEndAsync(string file, params string[] arguments)
    {
        using var process = Process.Start(file, arguments);
        await process.WaitForExitAsync().WaitAsync(ParleyProcess.Timeout);
        Assert.Equal(0, process.ExitCode);
    }

    [Fact]
    public async Task Past_a_file_size_limit_sends_get_storage_failed_the_server_lives_and_stores_again_once_the_limit_is_raised()
    {
        // Soft limit 1 MiB, hard unlimited (so the test can raise it later, as an operator would).
        // W^X off: with it the runtime maps its code through a file that must fit under the limit.
        ParleyProcess server = ParleyProcess.StartUnder(
            ["prlimit", $"--fsize={FileSizeLimit}:unlimited", "--"],
            new Dictionary<string, string?> { ["DOTNET_EnableWriteXorExecute"] = "0" },
            "serve", "--port", "0", "--data", _data);
        await using (server)
        {
            Match listening = await server.WaitForLineAsync(@"listening on (\S+):(\d+)");
            var endPoint = new IPEndPoint(IPAddress.Parse(listening.Groups[1].Value), int.Parse(listening.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
            var acknowledged = new List<(long Id, string Content)>();
            using LineClient alice = await JoinedAsync(endPoint);

            // Fill the first segment up to the limit: the write that passes it fails with EFBIG.
            string padding = new('x', 4000);
            for (int i = 0; ; i++)
            {
                Assert.True(i < 2 * FileSizeLimit / padding.Length, "the file-size limit never refused a write");
                string content = $"{i} {padding}";
                if (await TrySendAsync(alice, content) is not { } id)
                {
                    break;
                }

                acknowledged.Add((id, content));
            }

            // More refusals than the error budget (20 a minute): still connected.
            for (int i = 0; i < 25; i++)
            {
                Assert.Null(await TrySendAsync(alice, $"refused {i} {padding}"));
            }

            await alice.SendAsync("""{"_ct":"ping"}""");
            await alice.WaitForAsync("pong");

            // The operator raises the limit: a newcomer is served and its message stored once the
            // journal's next try comes (it retries within a fraction of a second after so few failures).
            await RunToEndAsync("prlimit", "--pid", server.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--fsize=unlimited:unlimited");
            using LineClient bob = await JoinedAsync(endPoint);
            var deadline = Stopwatch.StartNew();
            long? stored;
            while ((stored = await TrySendAsync(bob, "after the limit was raised")) is null)
            {
                Assert.True(deadline.Elapsed < ParleyProcess.Timeout, "the journal never stored again");
                await Task.Delay(50); // a client's retry pace; the server's own wait is on its clock
            }

            acknowledged.Add((stored.Value, "after the limit was raised"));
            long? again = await TrySendAsync(alice, "from the sender who saw the failures");
            Assert.NotNull(again);
            acknowledged.Add((again.Value, "from the sender who saw the failures"));
            await server.WaitForLineAsync("writing again after");

            server.Terminate();
            Assert.Equal(0, await server.WaitForExitAsync());
            Assert.DoesNotContain("Unhandled exception", server.Output, StringComparison.Ordinal);

            // A restart finds exactly what was acknowledged, ids in one unbroken sequence.
            var found = new List<(long, string)>();
            foreach (JournalRecord record in JournalReader.Read(ChatServer.JournalPath(_data), maxRecordBytes: ChatRecord.MaxLength(4096)))
            {
                Assert.True(ChatRecord.TryRead(record.Payload.Span, out _, out _, out string content));
                found.Add((record.Id, content));
            }

            Assert.Equal(acknowledged, found);
            Assert.Equal(Enumerable.Range(1, found.Count).Select(i => (long)i), found.Select(f => f.Item1));
        }
    }
}
