using System.Buffers;
using System.Net;
using System.Text;
using System.Threading.Channels;
using Parley.Tests;

namespace Parley.Chat.Tests;

/// <summary><see cref="ChatClient"/> against a real <see cref="ChatServer"/>, and against a scripted hostile one.</summary>
public class ChatClientTests
{
    private static readonly TimeSpan Timeout = ChatHarness.Timeout;

    private static async Task<ChatClient> StartAsync(ChatHarness harness, ChatClientOptions? options = null) =>
        await ChatClient.StartAsync(harness.Connect(read: false).Connection, options).WaitAsync(Timeout);

    [Fact]
    public async Task Against_an_open_server_a_client_joins_sends_with_acknowledgement_reads_history_lists_and_leaves()
    {
        await using var harness = ChatHarness.Start();
        await using ChatClient alice = await StartAsync(harness);
        await using ChatClient bob = await StartAsync(harness);
        Assert.StartsWith("user-", alice.User);
        Assert.Contains(alice.Session!.Rooms, r => r.Name == "general");

        var heardByBob = Channel.CreateUnbounded<ChatMessage>();
        var presence = Channel.CreateUnbounded<RoomParticipationEvent>();
        bob.MessageReceived += m => heardByBob.Writer.TryWrite(m);
        bob.PresenceChanged += p => presence.Writer.TryWrite(p);

        UserJoinedRoomEvent bobJoined = await bob.JoinRoomAsync("general").WaitAsync(Timeout);
        Assert.Equal([bob.User!], bobJoined.Users);
        Assert.Equal(new RoomParticipationEvent("general", bob.User!, true), await presence.Reader.ReadAsync().AsTask().WaitAsync(Timeout));
        UserJoinedRoomEvent aliceJoined = await alice.JoinRoomAsync("general").WaitAsync(Timeout);
        Assert.Equal(new[] { alice.User!, bob.User! }.Order(StringComparer.Ordinal), aliceJoined.Users);
        Assert.Equal(new RoomParticipationEvent("general", alice.User!, true), await presence.Reader.ReadAsync().AsTask().WaitAsync(Timeout));

        MessageAckEvent ack = await alice.SendMessageAsync("general", "héllo \"bob\"").WaitAsync(Timeout);
        Assert.Equal("general", ack.Room);
        ChatMessage heard = await heardByBob.Reader.ReadAsync().AsTask().WaitAsync(Timeout);
        Assert.Equal((ack.Id, alice.User, "héllo \"bob\"", "general"), (heard.Id, heard.User, heard.Content, heard.Room));

        HistoryEvent history = await bob.GetHistoryAsync("general", limit: 10).WaitAsync(Timeout);
        Assert.Equal(heard, Assert.Single(history.Messages));
        RoomsEvent rooms = await bob.ListRoomsAsync().WaitAsync(Timeout);
        Assert.Equal(2, rooms.Rooms.Single(r => r.Name == "general").Users);
        RoomUsersEvent users = await bob.ListUsersAsync("general", after: alice.User).WaitAsync(Timeout);
        Assert.Equal(2, users.Total);

        await alice.LeaveRoomAsync("general").WaitAsync(Timeout);
        Assert.Equal(new RoomParticipationEvent("general", alice.User!, false), await presence.Reader.ReadAsync().AsTask().WaitAsync(Timeout));
        await alice.PingAsync().WaitAsync(Timeout);
    }

    [Fact]
    public async Task Pipelined_sends_each_complete_with_their_own_answer_even_when_a_refusal_overtakes_an_acknowledgement()
    {
        await using var harness = ChatHarness.Start();
        await using ChatClient client = await StartAsync(harness);
        await client.JoinRoomAsync("general").WaitAsync(Timeout);

        // The refusal is immediate, the acknowledgements wait for the journal: the answers come out of order.
        var sends = new List<Task<MessageAckEvent>>();
        for (int i = 0; i < 20; i++)
        {
            sends.Add(client.SendMessageAsync(i % 5 == 2 ? "random" : "general", $"message {i}"));
        }

        for (int i = 0; i < sends.Count; i++)
        {
            if (i % 5 == 2)
            {
                ChatServerException refused = await Assert.ThrowsAsync<ChatServerException>(() => sends[i].WaitAsync(Timeout));
                Assert.Equal((ErrorCodes.NotAMember, "send_message"), (refused.Code, refused.Error.Command));
            }
            else
            {
                Assert.Equal("general", (await sends[i].WaitAsync(Timeout)).Room);
            }
        }

        HistoryEvent history = await client.GetHistoryAsync("general").WaitAsync(Timeout);
        long[] acked = [.. sends.Where(s => s.IsCompletedSuccessfully).Select(s => s.Result.Id)];
        Assert.Equal(acked, history.Messages.Select(m => m.Id));
        Assert.Equal([.. Enumerable.Range(0, 20).Where(i => i % 5 != 2).Select(i => $"message {i}")], history.Messages.Select(m => m.Content));
        Assert.Equal(0, client.PendingRequests);
    }

    [Fact]
    public async Task A_server_error_is_a_ChatServerException_and_the_client_goes_on()
    {
        await using var harness = ChatHarness.Start();
        await using ChatClient client = await StartAsync(harness);
        ChatServerException unknown = await Assert.ThrowsAsync<ChatServerException>(() => client.JoinRoomAsync("no-such-room").WaitAsync(Timeout));
        Assert.Equal((ErrorCodes.UnknownRoom, "join_room"), (unknown.Code, unknown.Error.Command));
        ChatServerException notIn = await Assert.ThrowsAsync<ChatServerException>(() => client.LeaveRoomAsync("general").WaitAsync(Timeout));
        Assert.Equal(ErrorCodes.NotAMember, notIn.Code);
        ChatServerException open = await Assert.ThrowsAsync<ChatServerException>(() => client.LoginAsync("alice", "pw").WaitAsync(Timeout));
        Assert.Equal(ErrorCodes.AlreadyLoggedIn, open.Code);
        Assert.Equal("general", (await client.JoinRoomAsync("general").WaitAsync(Timeout)).Room);
    }

    [Fact]
    public async Task Against_a_server_requiring_login_the_client_learns_so_and_logs_in_after_a_refused_attempt()
    {
        string directory = Path.Combine(Path.GetTempPath(), "parley-chat-" + Guid.NewGuid().ToString("N"));
        Assert.True(UserStore.Open(ChatServer.UsersPath(directory)).Add("alice", "correct horse"));
        await using var harness = ChatHarness.Start(o => o.Auth = AuthMode.Required, directory);
        await using ChatClient client = await StartAsync(harness);
        Assert.Null(client.Session);
        ChatServerException notYet = await Assert.ThrowsAsync<ChatServerException>(() => client.JoinRoomAsync("general").WaitAsync(Timeout));
        Assert.Equal(ErrorCodes.NotLoggedIn, notYet.Code);
        ChatServerException wrong = await Assert.ThrowsAsync<ChatServerException>(() => client.LoginAsync("alice", "wrong").WaitAsync(Timeout));
        Assert.Equal(ErrorCodes.LoginFailed, wrong.Code);
        LoginSuccessfulEvent login = await client.LoginAsync("alice", "correct horse").WaitAsync(Timeout);
        Assert.Equal(("alice", "alice"), (login.User, client.User));
        await client.JoinRoomAsync("general").WaitAsync(Timeout);
    }

    [Fact]
    public async Task A_dropped_connection_fails_every_request_in_flight_and_the_next_one_at_once()
    {
        // One command a second on a clock that never moves: the server reads the ping, then holds the rest.
        var time = new ManualTime();
        await using var harness = ChatHarness.Start(o =>
        {
            o.TimeProvider = time;
            o.MaxCommandsPerSecond = 1;
        });
        TestClient raw = harness.Connect(read: false);
        await using ChatClient client = await ChatClient.StartAsync(raw.Connection).WaitAsync(Timeout);
        var disconnected = new TaskCompletionSource<ChatConnectionClosedException?>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.Disconnected += e => disconnected.TrySetResult(e);

        Task[] inFlight = [client.JoinRoomAsync("general"), client.SendMessageAsync("general", "one"), client.GetHistoryAsync("general"), client.PingAsync()];
        Assert.Equal(4, client.PendingRequests);
        Assert.All(inFlight, t => Assert.False(t.IsCompleted));

        raw.ServerSide.Abort(); // the server's end drops
        foreach (Task request in inFlight)
        {
            await Assert.ThrowsAsync<ChatConnectionClosedException>(() => request.WaitAsync(Timeout));
        }

        Assert.NotNull(await disconnected.Task.WaitAsync(Timeout));
        Assert.Equal(0, client.PendingRequests);
        await Assert.ThrowsAsync<ChatConnectionClosedException>(() => client.PingAsync().WaitAsync(Timeout));
        time.Advance(TimeSpan.FromMinutes(1)); // the server's session ends its rate-limit wait, sees the close and ends
    }

    [Fact]
    public async Task Closing_lets_the_server_answer_what_was_sent_then_reports_a_clean_disconnect()
    {
        await using var harness = ChatHarness.Start();
        ChatClient client = await StartAsync(harness);
        var disconnected = new TaskCompletionSource<ChatConnectionClosedException?>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.Disconnected += e => disconnected.TrySetResult(e);
        await client.JoinRoomAsync("general").WaitAsync(Timeout);
        Task<MessageAckEvent> last = client.SendMessageAsync("general", "last words");
        Task closing = client.CloseAsync();
        Assert.Equal("general", (await last.WaitAsync(Timeout)).Room);
        await closing.WaitAsync(Timeout);
        Assert.Null(await disconnected.Task.WaitAsync(Timeout));
        await Assert.ThrowsAsync<ChatConnectionClosedException>(() => client.PingAsync().WaitAsync(Timeout));
        await client.DisposeAsync(); // idempotent
    }

    [Fact]
    public async Task Over_TCP_a_client_connects_with_ParleyClientOptions()
    {
        string directory = Path.Combine(Path.GetTempPath(), "parley-chat-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using ChatServer chat = ChatServer.Open(new ChatServerOptions { DataDirectory = directory });
            await using var server = new ParleyServer(new ParleyServerOptions
            {
                EndPoint = new IPEndPoint(IPAddress.Loopback, 0),
                Framer = chat.Framer,
                IdleTimeout = System.Threading.Timeout.InfiniteTimeSpan,
            });
            server.Start((connection, closed) => chat.RunSessionAsync(connection, closed));
            var options = new ParleyClientOptions
            {
                RemoteEndPoint = server.LocalEndPoint,
                Framer = ChatProtocol.CreateClientFramer(),
                IdleTimeout = System.Threading.Timeout.InfiniteTimeSpan,
                KeepAliveInterval = System.Threading.Timeout.InfiniteTimeSpan,
            };
            await using ChatClient client = await ChatClient.ConnectAsync(options).WaitAsync(Timeout);
            await client.JoinRoomAsync("general").WaitAsync(Timeout);
            Assert.True((await client.SendMessageAsync("general", "over tcp").WaitAsync(Timeout)).Id > 0);
            await client.CloseAsync().WaitAsync(Timeout);

            await Assert.ThrowsAsync<ArgumentException>(() => ChatClient.ConnectAsync(new ParleyClientOptions { RemoteEndPoint = server.LocalEndPoint }));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task The_reader_decodes_the_exact_lines_a_server_sends_and_the_server_echoes_a_ref_only_when_given_one()
    {
        await using var harness = ChatHarness.Start();
        TestClient raw = harness.Connect(read: false);
        await using IAsyncEnumerator<ReadOnlySequence<byte>> lines = raw.Connection.ReadMessagesAsync().GetAsyncEnumerator();
        async Task<(string Text, ChatEvent Event)> NextAsync()
        {
            Assert.True(await lines.MoveNextAsync().AsTask().WaitAsync(Timeout));
            Assert.True(ChatEventReader.TryRead(lines.Current, out ChatEvent? e, out string? error), error);
            return (Encoding.UTF8.GetString(lines.Current), e);
        }

        var login = Assert.IsType<LoginSuccessfulEvent>((await NextAsync()).Event);
        raw.Send("""{"_ct":"join_room","r":"general"}""");
        Assert.Equal([login.User], Assert.IsType<UserJoinedRoomEvent>((await NextAsync()).Event).Users);
        Assert.Equal(new RoomParticipationEvent("general", login.User, true), (await NextAsync()).Event);

        raw.Send("""{"_ct":"send_message","r":"general","c":"plain"}""");
        ChatMessage plain = Assert.IsType<UserMessageEvent>((await NextAsync()).Event).Message;
        (string ackText, ChatEvent ack) = await NextAsync();
        Assert.Equal($$"""{"_et":"message_ack","r":"general","id":{{plain.Id}}}""", ackText); // as before: no ref asked, none sent
        Assert.Equal(new MessageAckEvent("general", plain.Id), ack);

        raw.Send("""{"_ct":"send_message","r":"general","c":"tagged","ref":41}""");
        raw.Send("""{"_ct":"send_message","r":"random","c":"refused","ref":42}""");
        var answers = new List<ChatEvent>();
        for (int i = 0; i < 3; i++)
        {
            answers.Add((await NextAsync()).Event);
        }

        ChatMessage tagged = answers.OfType<UserMessageEvent>().Single().Message;
        Assert.Equal(new MessageAckEvent("general", tagged.Id, 41), answers.OfType<MessageAckEvent>().Single());
        Assert.Equal((ErrorCodes.NotAMember, "send_message", 42L), answers.OfType<ErrorEvent>().Select(e => (e.Error.Code, e.Error.Command, e.Error.Ref)).Single());

        raw.Send("""{"_ct":"history","r":"general"}""");
        Assert.Equal([plain, tagged], Assert.IsType<HistoryEvent>((await NextAsync()).Event).Messages);
        raw.Send("""{"_ct":"list_rooms"}""");
        Assert.Equal(1, Assert.IsType<RoomsEvent>((await NextAsync()).Event).Rooms[0].Users);
        raw.Send("""{"_ct":"list_users","r":"general"}""");
        Assert.Equal([login.User], Assert.IsType<RoomUsersEvent>((await NextAsync()).Event).Users);
        raw.Send("""{"_ct":"ping"}""");
        Assert.IsType<PongEvent>((await NextAsync()).Event);
    }

    /// <summary>The test plays the server: it reads the client's lines and writes whatever it likes.</summary>
    private sealed class ScriptedServer : IAsyncDisposable
    {
        private readonly IAsyncEnumerator<ReadOnlySequence<byte>> _lines;

        public ScriptedServer(int clientMaxEventBytes = ChatProtocol.DefaultMaxEventBytes)
        {
            (Client, Server) = InMemoryConnection.CreatePair(
                new ConnectionOptions { Framer = ChatProtocol.CreateClientFramer(clientMaxEventBytes), IdleTimeout = System.Threading.Timeout.InfiniteTimeSpan },
                new ConnectionOptions { Framer = new LineFramer(1024 * 1024), IdleTimeout = System.Threading.Timeout.InfiniteTimeSpan });
            _lines = Server.ReadMessagesAsync().GetAsyncEnumerator();
        }

        public Connection Client { get; }

        public Connection Server { get; }

        public async Task<string> ReadAsync()
        {
            Assert.True(await _lines.MoveNextAsync().AsTask().WaitAsync(Timeout), "the client closed");
            return Encoding.UTF8.GetString(_lines.Current);
        }

        public void Write(string line) => Server.Send(Encoding.UTF8.GetBytes(line));

        /// <summary>Starts a client, answering its first ping as an open server would.</summary>
        public async Task<ChatClient> StartAsync(ChatClientOptions? options = null)
        {
            Task<ChatClient> starting = ChatClient.StartAsync(Client, options);
            Assert.Equal("""{"_ct":"ping"}""", await ReadAsync());
            Write("""{"_et":"login_successful","s":"s-1","u":"me","rs":[],"more":false,"n":0}""");
            Write("""{"_et":"pong"}""");
            return await starting.WaitAsync(Timeout);
        }

        /// <summary>Closes the client as a server answers <c>quit</c>: it closes its end.</summary>
        public async Task QuitAsync(ChatClient client)
        {
            Task closing = client.CloseAsync();
            Assert.Equal("""{"_ct":"quit"}""", await ReadAsync());
            await Server.CloseAsync().WaitAsync(Timeout);
            await closing.WaitAsync(Timeout);
        }

        public async ValueTask DisposeAsync()
        {
            Server.Abort();
            await _lines.DisposeAsync();
        }
    }

    public static TheoryData<string, string> HostileLines() => new()
    {
        { "this is not json", "not a chat event" },
        { """{"_et":"rooms","rs":[],"more":false,"n":0}""", "answers no request" },
        { """{"_et":"message_ack","r":"general","id":5,"ref":999}""", "not in flight" },
        { """{"_et":"login_successful","s":"s-2","u":"someone else","rs":[]}""", "a second login_successful" },
        { """{"_et":"pong","x":""" + new string('[', 100) + new string(']', 100) + "}", "not a chat event" },
        { """{"_et":"user_message","r":"general","u":"x","c":"no id or time"}""", "needs" },
    };

    [Theory]
    [MemberData(nameof(HostileLines))]
    public async Task A_server_that_breaks_the_protocol_is_closed_and_every_pending_request_fails_clearly(string line, string problem)
    {
        await using var server = new ScriptedServer();
        await using ChatClient client = await server.StartAsync();
        Task<HistoryEvent> pendingHistory = client.GetHistoryAsync("general");
        Task<MessageAckEvent> pendingSend = client.SendMessageAsync("general", "x");
        await server.ReadAsync();
        await server.ReadAsync();

        server.Write(line);
        ChatConnectionClosedException failed = await Assert.ThrowsAsync<ChatConnectionClosedException>(() => pendingSend.WaitAsync(Timeout));
        Assert.Equal(CloseReason.ProtocolError, failed.Reason);
        Assert.Contains(problem, failed.Message);
        if (!pendingHistory.IsCompletedSuccessfully)
        {
            await Assert.ThrowsAsync<ChatConnectionClosedException>(() => pendingHistory.WaitAsync(Timeout));
        }

        await client.Completion.WaitAsync(Timeout);
        Assert.NotEqual(ConnectionState.Open, client.Connection.State);
    }

    [Fact]
    public async Task A_line_longer_than_the_client_accepts_closes_the_connection_instead_of_growing()
    {
        await using var server = new ScriptedServer(clientMaxEventBytes: 64 * 1024);
        await using ChatClient client = await server.StartAsync();
        Task ping = client.PingAsync();
        await server.ReadAsync();
        server.Write("{\"_et\":\"user_message\",\"r\":\"general\",\"u\":\"x\",\"c\":\"" + new string('x', 200 * 1024) + "\"}");
        ChatConnectionClosedException failed = await Assert.ThrowsAsync<ChatConnectionClosedException>(() => ping.WaitAsync(Timeout));
        Assert.Equal(CloseReason.FrameTooLarge, failed.Reason);
    }

    [Fact]
    public async Task A_server_that_never_answers_times_out_on_the_injected_clock_and_fails_the_rest()
    {
        var time = new ManualTime();
        await using var server = new ScriptedServer();
        await using ChatClient client = await server.StartAsync(new ChatClientOptions { TimeProvider = time, RequestTimeout = TimeSpan.FromSeconds(5) });
        Task first = client.JoinRoomAsync("general");
        await server.ReadAsync();
        time.Advance(TimeSpan.FromSeconds(2));
        Task second = client.PingAsync();
        await server.ReadAsync();
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.False(first.IsCompleted);

        time.Advance(TimeSpan.FromSeconds(1)); // the first is due, the second not yet
        await Assert.ThrowsAsync<TimeoutException>(() => first.WaitAsync(Timeout));
        ChatConnectionClosedException rest = await Assert.ThrowsAnyAsync<ChatConnectionClosedException>(() => second.WaitAsync(Timeout));
        Assert.Equal(CloseReason.IdleTimeout, rest.Reason);
    }

    [Fact]
    public async Task Requests_past_the_limit_wait_for_a_place_and_are_not_sent_meanwhile()
    {
        await using var server = new ScriptedServer();
        await using ChatClient client = await server.StartAsync(new ChatClientOptions { MaxPendingRequests = 2 });
        Task first = client.PingAsync();
        Task second = client.JoinRoomAsync("general");
        Task third = client.ListRoomsAsync();
        await server.ReadAsync();
        await server.ReadAsync();
        Assert.Equal(2, client.PendingRequests);
        Assert.False(third.IsCompleted);

        server.Write("""{"_et":"pong"}""");
        await first.WaitAsync(Timeout);
        Assert.Equal("""{"_ct":"list_rooms"}""", await server.ReadAsync()); // sent once a place was free
        server.Write("""{"_et":"user_joined_room","r":"general","us":["me"],"more":false,"n":1}""");
        server.Write("""{"_et":"rooms","rs":[{"n":"general","d":"","m":1}],"more":false,"n":1}""");
        await Task.WhenAll(second, third).WaitAsync(Timeout);
        await server.QuitAsync(client);
    }

    [Fact]
    public async Task A_cancelled_wait_leaves_the_answer_to_its_own_request()
    {
        await using var server = new ScriptedServer();
        await using ChatClient client = await server.StartAsync();
        using var cancel = new CancellationTokenSource();
        Task<RoomsEvent> abandoned = client.ListRoomsAsync(cancellationToken: cancel.Token);
        await server.ReadAsync();
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned.WaitAsync(Timeout));

        Task<RoomUsersEvent> next = client.ListUsersAsync("general");
        await server.ReadAsync();
        server.Write("""{"_et":"rooms","rs":[],"more":false,"n":0}""");
        server.Write("""{"_et":"room_users","r":"general","us":["me"],"more":false,"n":1}""");
        Assert.Equal(["me"], (await next.WaitAsync(Timeout)).Users);
        await server.QuitAsync(client);
    }

    [Fact]
    public async Task An_error_the_server_sends_on_its_own_goes_to_ErrorReceived_and_explains_the_close()
    {
        await using var server = new ScriptedServer();
        await using ChatClient client = await server.StartAsync();
        var errors = new List<ChatError>();
        client.ErrorReceived += errors.Add;
        Task ping = client.PingAsync();
        await server.ReadAsync();
        server.Write("""{"_et":"error","code":"too_many_errors","message":"closing"}""");
        await server.Server.CloseAsync();
        ChatConnectionClosedException closed = await Assert.ThrowsAsync<ChatConnectionClosedException>(() => ping.WaitAsync(Timeout));
        Assert.Equal(ErrorCodes.TooManyErrors, closed.ServerError?.Code);
        Assert.Equal(ErrorCodes.TooManyErrors, Assert.Single(errors).Code);
    }

    [Fact]
    public async Task A_handler_that_throws_closes_the_client_with_the_handlers_exception_inside()
    {
        await using var server = new ScriptedServer();
        await using ChatClient client = await server.StartAsync();
        client.MessageReceived += _ => throw new InvalidOperationException("handler bug");
        Task ping = client.PingAsync();
        await server.ReadAsync();
        server.Write("""{"_et":"user_message","r":"general","u":"x","c":"hi","id":1,"t":"2026-01-01T00:00:00Z"}""");
        ChatConnectionClosedException closed = await Assert.ThrowsAsync<ChatConnectionClosedException>(() => ping.WaitAsync(Timeout));
        Assert.Equal("handler bug", closed.InnerException?.Message);
    }
}
