using System.Diagnostics;
using Spectre.Console;

namespace Parley.Bench;

/// <summary>What <c>parley bench chat</c> was asked to do.</summary>
internal sealed record ChatBenchSettings(string Profile, int Users, double Rate, TimeSpan Duration, int Size);

/// <summary>
/// Load profiles for <c>parley serve</c>, from the systems it replaces: rust-chat-server's
/// README load (rust-readme) and committed stress test (rust-stress), and the C server's
/// "1000 concurrent clients" (burst).
/// </summary>
internal static class ChatWorkload
{
    private static readonly TimeSpan Drain = TimeSpan.FromSeconds(3);

    public static async Task<BenchResult> RunAsync(ChatBenchSettings settings, ServerUnderTest server, IAnsiConsole console, CancellationToken cancellationToken)
    {
        string[] rooms = await RoomsOfAsync(server, cancellationToken);
        console.MarkupLineInterpolated($"rooms: {rooms.Length} from the server's greeting");
        BenchResult result = settings.Profile switch
        {
            "burst" => await BurstAsync(settings, server, rooms, console, cancellationToken),
            "rust-stress" => await StressAsync(settings, server, rooms, console, cancellationToken),
            _ => await ReadmeAsync(settings, server, rooms, console, cancellationToken),
        };
        return result with { Rooms = rooms.Length };
    }

    /// <summary>
    /// The rooms the profiles use: the room list of the server's greeting (<c>login_successful</c>),
    /// as a client of the protocol learns it — so the bench runs against <c>parley serve --rooms
    /// FILE</c> and any server speaking the protocol. A greeting cut short (<c>more</c>) is
    /// completed with <c>list_rooms</c> pages. One connection, closed before the run.
    /// </summary>
    internal static async Task<string[]> RoomsOfAsync(ServerUnderTest server, CancellationToken cancellationToken)
    {
        ChatBenchClient probe;
        try
        {
            probe = await ConnectAsync(server, -1, null, cancellationToken, readGreeting: true); // bounded: the connect timeout, then 30 s for the greeting
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw new InvalidOperationException($"no greeting from {server.EndPoint} to take the rooms from ({ex.Message}): {server.Hint("chat")}", ex);
        }

        await using ChatBenchClient probed = probe;
        Parley.Chat.LoginSuccessfulEvent greeting = probe.Greeting
            ?? throw new InvalidOperationException("The server's greeting (login_successful) could not be read: no room list to run against.");
        var rooms = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int added = Add(greeting.Rooms);
        bool more = greeting.More;
        try
        {
            // Until the server says there is no more, or a page brings nothing new (a server that ignores "after").
            while (more && added > 0)
            {
                Parley.Chat.RoomsEvent next = await probe.ListRoomsAsync(rooms[^1]).WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
                added = Add(next.Rooms);
                more = next.More;
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw new InvalidOperationException($"the room list from {server.EndPoint} could not be read past {rooms.Count} rooms ({ex.Message}): {server.Hint("chat")}", ex);
        }

        return rooms.Count > 0
            ? [.. rooms]
            : throw new InvalidOperationException("The server's greeting lists no rooms: nothing to join.");

        int Add(IReadOnlyList<Parley.Chat.ChatRoomInfo> page)
        {
            int before = rooms.Count;
            rooms.AddRange(page.Select(r => r.Name).Where(seen.Add));
            return rooms.Count - before;
        }
    }

    private static async Task<ChatBenchClient> ConnectAsync(ServerUnderTest server, int index, System.Net.IPEndPoint? local, CancellationToken cancellationToken, bool readGreeting = false)
    {
        var client = new ChatBenchClient(server, local, index, readGreeting);
        try
        {
            await client.ConnectAsync(cancellationToken);
            await client.LoggedIn.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
            return client;
        }
        catch
        {
            await client.DisposeAsync(); // not left open behind a failed connect or a greeting that never came
            throw;
        }
    }

    /// <summary>rust-readme: 48 users, 2 per room, each sending <c>--rate</c> (200) messages a second to its room.</summary>
    private static async Task<BenchResult> ReadmeAsync(ChatBenchSettings settings, ServerUnderTest server, string[] rooms, IAnsiConsole console, CancellationToken cancellationToken)
    {
        int users = settings.Users;
        console.MarkupLineInterpolated($"rust-readme: {users} users, 2 per room, {settings.Rate:N0} messages/s each, {settings.Duration.TotalSeconds:N0} s");
        (List<ChatBenchClient> clients, int failures, double connectRate) = await BenchClients.ConnectAsync(
            server.EndPoint, users, (i, local, ct) => ConnectAsync(server, i, local, ct), console, cancellationToken);
        Fail(failures, users, clients, server);
        try
        {
            await Task.WhenAll(clients.Select(c => c.JoinAsync([RoomOf(c.Index)]))).WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
            StartMeasuring(clients, server);
            var sent = new int[users];
            long start = Stopwatch.GetTimestamp();
            await PaceAsync(settings.Duration, users * settings.Rate, slot =>
            {
                int user = (int)(slot % users);
                Send(clients[user], RoomOf(user), (user / 2) % rooms.Length, user, sent[user]++, settings.Size);
            }, () => Progress(console, server, clients, start, settings.Duration), cancellationToken);
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            long total = sent.Sum(s => (long)s);

            // Each message reaches every member of its room, its sender too: two per room, or more
            // when the server offers fewer rooms than half the users.
            var members = clients.GroupBy(c => RoomOf(c.Index)).ToDictionary(g => g.Key, g => (long)g.Count(), StringComparer.Ordinal);
            long expected = Enumerable.Range(0, users).Sum(user => sent[user] * members.GetValueOrDefault(RoomOf(user)));
            await DrainAsync(clients, total, expectedDeliveries: expected, cancellationToken);
            return Result(settings, clients, seconds, total, expected, connectRate, server);
        }
        finally
        {
            await BenchClients.CloseAllAsync(clients);
        }

        string RoomOf(int user) => rooms[(user / 2) % rooms.Length];
    }

    /// <summary>
    /// rust-stress: users ramp to half the total over the first third of the duration, then to the
    /// total (default 1200 then 2400 over 60 + 120 s); each joins 5 of the 24 rooms round-robin and
    /// sends one message every 10 s to its rooms in turn, after a random initial delay.
    /// </summary>
    private static async Task<BenchResult> StressAsync(ChatBenchSettings settings, ServerUnderTest server, string[] rooms, IAnsiConsole console, CancellationToken cancellationToken)
    {
        int total = settings.Users;
        double seconds = settings.Duration.TotalSeconds;
        console.MarkupLineInterpolated($"rust-stress: ramp to {total / 2} users over {seconds / 3:N0} s, then to {total} over {2 * seconds / 3:N0} s; 5 rooms each, one message per 10 s");
        var clients = new List<ChatBenchClient>(total);
        var sent = new int[total];

        // Each user's rooms: 5 consecutive ones round-robin, or every room when there are fewer.
        int[][] roomsOf = [.. Enumerable.Range(0, total).Select(user => Enumerable.Range(0, 5).Select(j => ((user * 5) + j) % rooms.Length).Distinct().ToArray())];
        int[] RoomsOf(int user) => roomsOf[user];
        var due = new PriorityQueue<int, long>();
        long interval = Stopwatch.Frequency * 10;
        long start = Stopwatch.GetTimestamp();
        server.Sampler?.Reset();
        int failures = 0;
        var connecting = new List<Task>();
        try
        {
            while (Stopwatch.GetElapsedTime(start).TotalSeconds < seconds)
            {
                double elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
                int wanted = elapsed < seconds / 3
                    ? (int)(total / 2 * elapsed / (seconds / 3))
                    : (total / 2) + (int)(total / 2 * (elapsed - (seconds / 3)) / (2 * seconds / 3));
                while (clients.Count + connecting.Count < Math.Min(wanted, total))
                {
                    int index = clients.Count + connecting.Count;
                    connecting.Add(Task.Run(
                        async () =>
                        {
                            try
                            {
                                ChatBenchClient client = await ConnectAsync(server, index, null, cancellationToken);
                                await client.JoinAsync([.. RoomsOf(index).Select(r => rooms[r])]).WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
                                client.Measuring = true;
                                lock (clients)
                                {
                                    clients.Add(client);
                                    due.Enqueue(client.Index, Stopwatch.GetTimestamp() + Random.Shared.NextInt64(interval));
                                }
                            }
                            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or TimeoutException or IOException)
                            {
                                Interlocked.Increment(ref failures);
                            }
                        },
                        cancellationToken));
                }

                connecting.RemoveAll(t => t.IsCompleted);
                long now = Stopwatch.GetTimestamp();
                lock (clients)
                {
                    while (due.TryPeek(out int user, out long when) && when <= now)
                    {
                        due.Dequeue();
                        ChatBenchClient client = clients.First(c => c.Index == user);
                        // Its rooms in turn: the k-th message goes to room k mod n with sequence k / n (per room, per sender).
                        int[] own = RoomsOf(user);
                        int room = own[sent[user] % own.Length];
                        Send(client, rooms[room], room, user, sent[user]++ / own.Length, settings.Size);
                        due.Enqueue(user, when + interval);
                    }
                }

                Progress(console, server, clients, start, settings.Duration);
                await Task.Delay(10, cancellationToken);
            }

            await Task.WhenAll(connecting);
            double measured = Stopwatch.GetElapsedTime(start).TotalSeconds;
            long messages = sent.Sum(s => (long)s);
            if (messages == 0 && clients.Count > 0)
            {
                throw new InvalidOperationException("no message was sent: rust-stress users send once every 10 s after a random delay; run longer (--duration).");
            }

            await DrainAsync(clients, messages, expectedDeliveries: null, cancellationToken);
            return Result(settings, clients, measured, messages, null, 0, server) with { ConnectFailures = failures };
        }
        finally
        {
            await BenchClients.CloseAllAsync(clients);
        }
    }

    /// <summary>burst: N clients connect at once; each is greeted, joins a room, sends one message, waits for its ack and leaves.</summary>
    private static async Task<BenchResult> BurstAsync(ChatBenchSettings settings, ServerUnderTest server, string[] rooms, IAnsiConsole console, CancellationToken cancellationToken)
    {
        int n = settings.Users;
        console.MarkupLineInterpolated($"burst: {n} clients at once, each: connect, greeting, join, one message, ack, leave");
        var served = new LatencyHistogram();
        int failures = 0;
        string? firstError = null;
        server.Sampler?.Reset();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task[] tasks = [.. Enumerable.Range(0, n).Select(i => Task.Run(
            async () =>
            {
                await gate.Task;
                long begin = Stopwatch.GetTimestamp();
                try
                {
                    await using ChatBenchClient client = await ConnectAsync(server, i, null, cancellationToken);
                    string room = rooms[i % rooms.Length];
                    await client.JoinAsync([room]).WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
                    Send(client, room, i % rooms.Length, i, 0, settings.Size);
                    await client.FirstAck.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
                    lock (served)
                    {
                        served.Record((long)Stopwatch.GetElapsedTime(begin).TotalMicroseconds);
                    }
                }
                catch (Exception ex) when (ex is System.Net.Sockets.SocketException or TimeoutException or IOException)
                {
                    Interlocked.Increment(ref failures);
                    Interlocked.CompareExchange(ref firstError, ex.Message, null);
                }
            },
            cancellationToken))];
        long start = Stopwatch.GetTimestamp();
        gate.SetResult();
        await Task.WhenAll(tasks);
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        if (firstError is not null)
        {
            console.MarkupLineInterpolated($"[yellow]{failures} clients failed; first: {firstError}[/]");
        }

        return new BenchResult
        {
            Workload = "chat",
            Profile = "burst",
            Clients = n,
            DurationS = Math.Round(seconds, 3),
            TotalS = Math.Round(seconds, 3),
            SizeBytes = settings.Size,
            Expected = n,
            Delivered = served.Count,
            Lost = n - served.Count,
            ConnectFailures = failures,
            MsgsInPerS = Math.Round(served.Count / seconds),
            MsgsPerS = Math.Round(served.Count / seconds),
            LatencyMs = LatencyMs.From(served),
            Server = BenchReport.ServerStats(server),
        };
    }

    private static void Send(ChatBenchClient client, string room, int roomNumber, int sender, int sequence, int size)
    {
        if (client.Closed)
        {
            return; // Dropped by the server: its messages count as not stored.
        }

        try
        {
            client.Send(ChatBenchClient.FormatMessage(room, roomNumber, sender, sequence, size));
        }
        catch (System.Net.Sockets.SocketException)
        {
            // Closed under us: same as above.
        }
    }

    private static void StartMeasuring(List<ChatBenchClient> clients, ServerUnderTest server)
    {
        foreach (ChatBenchClient client in clients)
        {
            client.Measuring = true;
        }

        server.Sampler?.Reset();
    }

    /// <summary>Calls <paramref name="send"/> for slot 0, 1, 2, … at <paramref name="perSecond"/> slots a second, spread evenly.</summary>
    private static async Task PaceAsync(TimeSpan duration, double perSecond, Action<long> send, Action progress, CancellationToken cancellationToken)
    {
        long start = Stopwatch.GetTimestamp();
        long next = 0;
        long lastProgress = start;
        while (true)
        {
            TimeSpan elapsed = Stopwatch.GetElapsedTime(start);
            if (elapsed >= duration)
            {
                return;
            }

            for (long due = (long)(elapsed.TotalSeconds * perSecond); next < due; next++)
            {
                send(next);
            }

            if (Stopwatch.GetTimestamp() - lastProgress > Stopwatch.Frequency)
            {
                lastProgress = Stopwatch.GetTimestamp();
                progress();
            }

            await Task.Delay(1, cancellationToken);
        }
    }

    private static async Task DrainAsync(List<ChatBenchClient> clients, long sent, long? expectedDeliveries, CancellationToken cancellationToken)
    {
        long deadline = Environment.TickCount64 + (long)Drain.TotalMilliseconds;
        while (Environment.TickCount64 < deadline
            && (clients.Sum(c => c.Acks) < sent || (expectedDeliveries is long d && clients.Sum(c => c.Delivered) < d)))
        {
            await Task.Delay(20, cancellationToken);
        }

        if (expectedDeliveries is null)
        {
            await Task.Delay(500, cancellationToken); // no exact count of deliveries: give the last broadcasts a moment
        }
    }

    private static void Progress(IAnsiConsole console, ServerUnderTest server, List<ChatBenchClient> clients, long start, TimeSpan duration)
    {
        long delivered, acks;
        int count;
        lock (clients)
        {
            count = clients.Count;
            delivered = clients.Sum(c => c.Delivered);
            acks = clients.Sum(c => c.Acks);
        }

        BenchReport.Progress(console, $"chat {Stopwatch.GetElapsedTime(start).TotalSeconds:F0}/{duration.TotalSeconds:F0}s  users {count:N0}  stored {acks:N0}  delivered {delivered:N0}", server);
    }

    private static void Fail(int failures, int wanted, List<ChatBenchClient> clients, ServerUnderTest server)
    {
        if (failures > 0)
        {
            _ = BenchClients.CloseAllAsync(clients);
            throw BenchClients.ConnectFailed(failures, wanted, server, "chat");
        }
    }

    /// <summary>
    /// With several nodes: within each client each room's ids must rise (the one order of the
    /// shared stream), and a message (sender, room, sequence) must carry the same id for every
    /// client, whichever node it is on. Nulls with one server.
    /// </summary>
    internal static (long? OrderViolations, long? IdMismatches) CrossNodeOrder(IReadOnlyList<ChatBenchClient> clients)
    {
        if (clients.Count == 0 || clients[0].Arrivals() is null)
        {
            return (null, null);
        }

        long violations = 0, mismatches = 0;
        var ids = new Dictionary<(long Room, long Sender, long Sequence), long>();
        foreach (ChatBenchClient client in clients)
        {
            foreach ((long room, (long Id, long Sender, long Sequence)[] arrivals) in client.Arrivals()!)
            {
                long last = long.MinValue;
                foreach ((long id, long sender, long sequence) in arrivals)
                {
                    if (id <= last)
                    {
                        violations++;
                    }

                    last = id;
                    if (ids.TryGetValue((room, sender, sequence), out long known))
                    {
                        if (known != id)
                        {
                            mismatches++;
                        }
                    }
                    else
                    {
                        ids.Add((room, sender, sequence), id);
                    }
                }
            }
        }

        return (violations, mismatches);
    }

    private static BenchResult Result(ChatBenchSettings settings, List<ChatBenchClient> clients, double seconds, long sent, long? expectedDeliveries, double connectRate, ServerUnderTest server)
    {
        var latency = new LatencyHistogram();
        long delivered = 0, gaps = 0, duplicated = 0, reordered = 0, acks = 0, errors = 0;
        foreach (ChatBenchClient client in clients)
        {
            latency.Add(client.Latency);
            delivered += client.Delivered;
            gaps += client.Gaps;
            duplicated += client.Duplicated;
            reordered += client.Reordered;
            acks += client.Acks;
            errors += client.Errors;
        }

        (long? orderViolations, long? idMismatches) = CrossNodeOrder(clients);
        return new BenchResult
        {
            Workload = "chat",
            Profile = settings.Profile,
            Clients = clients.Count,
            Nodes = server.Targets.Count > 1 ? server.Targets.Count : null,
            OrderViolations = orderViolations,
            IdMismatches = idMismatches,
            DurationS = Math.Round(seconds, 2),
            SizeBytes = settings.Size,
            Expected = expectedDeliveries ?? delivered + gaps,
            Delivered = delivered,
            Lost = (sent - acks) + gaps,
            Duplicated = duplicated,
            Reordered = reordered,
            Errors = errors,
            MsgsInPerS = Math.Round(acks / seconds),
            MsgsPerS = Math.Round(delivered / seconds),
            MibPerS = Math.Round(delivered * (double)settings.Size / seconds / (1024 * 1024), 2),
            ConnectPerS = Math.Round(connectRate),
            LatencyMs = LatencyMs.From(latency),
            Server = BenchReport.ServerStats(server),
        };
    }
}
