using System.Buffers;
using System.Text;
using System.Text.Json;
using Parley.Journal;
using Parley.Tests;

namespace Parley.Chat.Tests;

/// <summary>ChatClient at its edges: a hung server behind a full request window, a message over the limit, ping ordering, ref echoes.</summary>
public class ChatClientEdgeTests
{
    private static readonly TimeSpan Timeout = ChatHarness.Timeout;

    // The wait for a place (MaxPendingRequests) is bounded by RequestTimeout: requests the caller
    // cancelled keep their places until the server answers; a server that never does is hung.
    [Fact]
    public async Task A_request_waiting_for_a_place_times_out_when_the_server_never_answers_the_cancelled_ones()
    {
        var time = new ManualTime();
        (Connection clientSide, Connection serverSide) = InMemoryConnection.CreatePair(
            new ConnectionOptions { Framer = ChatProtocol.CreateClientFramer(), IdleTimeout = System.Threading.Timeout.InfiniteTimeSpan },
            new ConnectionOptions { Framer = new LineFramer(1024 * 1024), IdleTimeout = System.Threading.Timeout.InfiniteTimeSpan });
        await using IAsyncEnumerator<ReadOnlySequence<byte>> lines = serverSide.ReadMessagesAsync().GetAsyncEnumerator();
        Task<ChatClient> starting = ChatClient.StartAsync(clientSide, new ChatClientOptions { TimeProvider = time, RequestTimeout = TimeSpan.FromSeconds(5), MaxPendingRequests = 2 });
        Assert.True(await lines.MoveNextAsync().AsTask().WaitAsync(Timeout));
        serverSide.Send("""{"_et":"login_successful","s":"s-1","u":"me","rs":[],"more":false,"n":0}"""u8);
        serverSide.Send("""{"_et":"pong"}"""u8);
        await using ChatClient client = await starting.WaitAsync(Timeout);

        using var cancel = new CancellationTokenSource();
        Task a = client.ListRoomsAsync(cancellationToken: cancel.Token);
        Task b = client.GetHistoryAsync("general", cancellationToken: cancel.Token);
        Assert.True(await lines.MoveNextAsync().AsTask().WaitAsync(Timeout));
        Assert.True(await lines.MoveNextAsync().AsTask().WaitAsync(Timeout));
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => a.WaitAsync(Timeout));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => b.WaitAsync(Timeout));

        Task third = client.PingAsync(); // no token: the caller relies on RequestTimeout
        time.Advance(TimeSpan.FromSeconds(60)); // twelve request timeouts later
        await Task.WhenAny(third, Task.Delay(TimeSpan.FromSeconds(10))); // a bound, not a synchronisation
        bool timedOut = third.IsCompleted;
        serverSide.Abort(); // (else the client's close waits for the server on a clock that does not move)
        await client.Completion.WaitAsync(Timeout);
        Assert.True(timedOut, "a request waiting for a place never times out: the server is silent, nothing notices");
    }

    // A message over the server's limit is refused by the client (MaxMessageBytes) before it
    // could make the server close the connection for an over-long line.
    [Fact]
    public async Task A_message_longer_than_the_server_accepts_is_refused_and_the_client_goes_on()
    {
        await using var harness = ChatHarness.Start();
        (Connection clientSide, Connection serverSide) = InMemoryConnection.CreatePair(
            new ConnectionOptions { Framer = ChatProtocol.CreateClientFramer(), IdleTimeout = System.Threading.Timeout.InfiniteTimeSpan },
            new ConnectionOptions { Framer = harness.Server.Framer, IdleTimeout = System.Threading.Timeout.InfiniteTimeSpan });
        Task session = Task.Run(async () =>
        {
            await harness.Server.RunSessionAsync(serverSide, serverSide.Closed);
            await serverSide.CloseAsync();
        });
        await using ChatClient client = await ChatClient.StartAsync(clientSide).WaitAsync(Timeout);
        await client.JoinRoomAsync("general").WaitAsync(Timeout);

        Task<MessageAckEvent> ok = client.SendMessageAsync("general", "fine");
        Exception thrown = await Record.ExceptionAsync(() => client.SendMessageAsync("general", new string('x', 30_000)).WaitAsync(Timeout));
        Assert.True(thrown is ChatServerException { Error.Code: ErrorCodes.MessageTooLong } or ArgumentException, $"got {thrown}");
        await ok.WaitAsync(Timeout);
        await client.PingAsync().WaitAsync(Timeout);
        await client.CloseAsync().WaitAsync(Timeout);
        await session.WaitAsync(Timeout);
    }

    // PingAsync is a liveness probe: the server answers it at once, even while the journal holds
    // an earlier send's acknowledgement (documented on PingAsync).
    [Fact]
    public async Task PingAsync_is_answered_while_an_earlier_send_still_waits_for_the_journal()
    {
        var storage = new GatedStorage();
        await using var harness = ChatHarness.Start(o => o.ConfigureJournal = journal => journal.Storage = storage);
        await using ChatClient client = await ChatClient.StartAsync(harness.Connect(read: false).Connection).WaitAsync(Timeout);
        await client.JoinRoomAsync("general").WaitAsync(Timeout);

        storage.Gate.Reset(); // the journal's next write waits
        Task<MessageAckEvent> send = client.SendMessageAsync("general", "stored later");
        await client.PingAsync().WaitAsync(Timeout);
        Assert.False(send.IsCompleted, "the send is still waiting for the journal");
        storage.Gate.Set();
        await send.WaitAsync(Timeout);
    }

    // The ref is echoed in an error refusing the command wherever it stands in the object.
    [Fact]
    public async Task An_invalid_argument_echoes_the_ref_wherever_it_stands_in_the_object()
    {
        await using var harness = ChatHarness.Start();
        TestClient raw = harness.Connect();
        await raw.ExpectAsync("login_successful");
        raw.Send("""{"_ct":"send_message","r":"general","c":5,"ref":7}""");
        JsonElement error = await raw.ExpectAsync("error");
        Assert.Equal(ErrorCodes.InvalidArgument, error.GetProperty("code").GetString());
        Assert.True(error.TryGetProperty("ref", out JsonElement echoed) && echoed.GetInt64() == 7, $"no ref echoed: {error}");
    }

    /// <summary>The journal's files, with writes that wait while <see cref="Gate"/> is closed.</summary>
    private sealed class GatedStorage : JournalStorage
    {
        public ManualResetEventSlim Gate { get; } = new(true);

        public override SegmentFile Wrap(SegmentFile file) => new GatedFile(this, file);

        private sealed class GatedFile(GatedStorage owner, SegmentFile file) : SegmentFile(file)
        {
            public override void Write(ReadOnlySpan<byte> data)
            {
                owner.Gate.Wait(ChatHarness.Timeout);
                base.Write(data);
            }
        }
    }
}
