using System.Text.Json;
using Parley.Journal;
using Parley.Journal.Tests;
using Parley.Tests;

namespace Parley.Chat.Tests;

/// <summary>Issue 16, disk faults: a disk that fails refuses messages, never the people sending
/// them, and the server stores again by itself once the disk does.</summary>
public class DiskFaultTests
{
    private static string Message(string content) => JsonSerializer.Serialize(new Dictionary<string, string>
    {
        ["_ct"] = "send_message",
        ["r"] = "general",
        ["c"] = content,
    });

    private static async Task<long> StoredAsync(TestClient sender, string content)
    {
        sender.Send(Message(content));
        return (await sender.WaitForAsync("message_ack")).GetProperty("id").GetInt64();
    }

    [Theory]
    [InlineData("ENOSPC")]
    [InlineData("EFBIG")]
    [InlineData("EIO")]
    [InlineData("EROFS")]
    public async Task Messages_the_disk_refuses_get_storage_failed_without_using_up_the_error_budget_and_storing_resumes_when_the_disk_does(string errno)
    {
        var time = new ManualTime();
        var storage = new FaultyStorage();
        await using var harness = ChatHarness.Start(o =>
        {
            o.TimeProvider = time;
            o.MaxErrorsPerMinute = 3;
            o.ConfigureJournal = journal => journal.Storage = storage;
        });
        var acknowledged = new List<(long Id, string Content)>();
        TestClient alice = await harness.ConnectJoinedAsync();
        acknowledged.Add((await StoredAsync(alice, "before the fault"), "before the fault"));

        // The disk fails: every message is refused, three times the error budget, and the sender stays.
        storage.WriteFault = FaultyStorage.Errno(errno);
        for (int i = 0; i < 10; i++)
        {
            alice.Send(Message($"refused {i}"));
        }

        for (int i = 0; i < 10; i++)
        {
            JsonElement error = await alice.ExpectAsync("error");
            Assert.Equal(ErrorCodes.StorageFailed, error.GetProperty("code").GetString());
        }

        alice.Send("""{"_ct":"ping"}""");
        await alice.ExpectAsync("pong");

        // Space returns: within the journal's longest retry wait, messages are stored again, from
        // the sender who saw the failures and from a client that arrives now, without a restart.
        storage.WriteFault = null;
        time.Advance(new JournalOptions().MaxWriteRetryDelay);
        TestClient bob = await harness.ConnectJoinedAsync();
        acknowledged.Add((await StoredAsync(bob, "from a newcomer"), "from a newcomer"));
        Assert.Equal("from a newcomer", (await alice.WaitForAsync("user_message")).GetProperty("c").GetString());
        acknowledged.Add((await StoredAsync(alice, "after the fault"), "after the fault"));
        Assert.Equal([1L, 2L, 3L], acknowledged.Select(a => a.Id));

        // What a restart finds: exactly the acknowledged messages, nothing refused.
        await harness.StopServerAsync();
        var stored = new List<(long, string)>();
        foreach (JournalRecord record in JournalReader.Read(ChatServer.JournalPath(harness.Directory), maxRecordBytes: ChatRecord.MaxLength(4096)))
        {
            Assert.True(ChatRecord.TryRead(record.Payload.Span, out _, out _, out string content));
            stored.Add((record.Id, content));
        }

        Assert.Equal(acknowledged, stored);
        Assert.Empty(Directory.GetFiles(ChatServer.JournalPath(harness.Directory), "*.corrupt"));
    }

    [Fact]
    public async Task Even_a_journal_that_stopped_for_good_refuses_with_storage_failed_without_using_up_the_error_budget()
    {
        var storage = new FaultyStorage();
        await using var harness = ChatHarness.Start(o =>
        {
            o.MaxErrorsPerMinute = 3;
            o.LoggerFactory = new FailingWriteLogFactory();
            o.ConfigureJournal = journal => journal.Storage = storage;
        });
        TestClient alice = await harness.ConnectJoinedAsync();

        // The journal's writer stops on an error of its own (its log sink throws): every later
        // append throws, and each is still the server's fault, not the sender's.
        storage.WriteFault = FaultyStorage.Errno("ENOSPC");
        for (int i = 0; i < 10; i++)
        {
            alice.Send(Message($"refused {i}"));
            JsonElement error = await alice.ExpectAsync("error");
            Assert.Equal(ErrorCodes.StorageFailed, error.GetProperty("code").GetString());
        }

        alice.Send("""{"_ct":"ping"}""");
        await alice.ExpectAsync("pong");
    }

    /// <summary>Loggers that throw on the journal's "a write failed" line (event 520).</summary>
    private sealed class FailingWriteLogFactory : Microsoft.Extensions.Logging.ILoggerFactory
    {
        public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => new Logger();

        public void AddProvider(Microsoft.Extensions.Logging.ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        private sealed class Logger : Microsoft.Extensions.Logging.ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

            public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (eventId.Id == 520)
                {
                    throw new InvalidOperationException("the log sink failed");
                }
            }
        }
    }
}
