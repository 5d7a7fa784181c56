using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Parley.Chat;

namespace Parley.Bench;

/// <summary>
/// Issue 15's mixed abuse run against a <c>parley serve</c> (login required): while one honest
/// client (from 127.0.0.2) logs in and sends a message every <see cref="AbuseSettings.Interval"/>,
/// attackers from 127.0.0.3–127.0.0.10 do at once what the issue lists — invalid UTF-8 floods,
/// slow-loris lines, fast trickles, silent connections, password spraying, huge history
/// requests. Every attacker loop is bounded by the abuse window and reconnects when the server
/// closes it. The honest client's send-to-ack latency is measured before, during and after the
/// abuse, and the server's RSS idle, at its peak, and after the abuse has stopped.
/// </summary>
internal sealed class AbuseWorkload(IPEndPoint server, AbuseSettings settings, Action<string> progress)
{
    private const string Password = "honest password";
    private const string AttackerPassword = "attacker password";
    private long _attackConnections;
    private long _attackerRefusals;

    /// <summary>Users the server's data folder must hold before it starts.</summary>
    public static void CreateUsers(string dataDirectory)
    {
        var users = Parley.Chat.UserStore.Open(Parley.Chat.ChatServer.UsersPath(dataDirectory));
        users.Add("honest", Password);
        users.Add("victim", "the victim's password");
        users.Add("attacker", AttackerPassword);
    }

    public async Task<AbuseResult> RunAsync(ResourceSampler? sampler, CancellationToken cancellationToken)
    {
        await using var honest = await HonestClient.ConnectAsync(server, cancellationToken);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task sending = honest.SendLoopAsync(settings.Interval, stop.Token);

        // Phase 1: quiet. The server's idle figure is taken at its end.
        progress($"quiet phase: {settings.Warmup.TotalSeconds:0} s");
        await Task.Delay(settings.Warmup, cancellationToken);
        sampler?.SampleNow();
        double idleRss = sampler?.CurrentRssMb ?? 0;
        LatencyHistogram quiet = honest.TakeLatencies();

        // Phase 2: abuse.
        progress($"abuse phase: {settings.Duration.TotalSeconds:0} s");
        sampler?.Reset();
        using (var abuse = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            abuse.CancelAfter(settings.Duration);
            Task[] attackers = StartAttackers(abuse.Token);
            try
            {
                await Task.WhenAll(attackers);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // The abuse window ended.
            }
        }

        double peakRss = sampler?.PeakRssMb ?? 0;
        LatencyHistogram underAbuse = honest.TakeLatencies();

        // Phase 3: after. The server should give back what the attackers made it hold.
        progress($"after phase: {settings.After.TotalSeconds:0} s");
        await Task.Delay(settings.After, cancellationToken);
        sampler?.SampleNow();
        double afterRss = sampler?.CurrentRssMb ?? 0;
        LatencyHistogram after = honest.TakeLatencies();
        await stop.CancelAsync();
        await sending.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

        return new AbuseResult(
            quiet,
            underAbuse,
            after,
            honest.Sent,
            honest.Acknowledged,
            honest.Disconnected,
            idleRss,
            peakRss,
            afterRss,
            Interlocked.Read(ref _attackConnections),
            Interlocked.Read(ref _attackerRefusals));
    }

    private Task[] StartAttackers(CancellationToken stop)
    {
        var tasks = new List<Task>();
        int n = 0;
        IPAddress NextAddress() => IPAddress.Parse($"127.0.0.{3 + (n++ % 8)}");

        for (int i = 0; i < settings.Utf8Flooders; i++)
        {
            tasks.Add(RepeatAsync(NextAddress(), Utf8FloodAsync, stop));
        }

        for (int i = 0; i < settings.SlowLoris; i++)
        {
            tasks.Add(RepeatAsync(NextAddress(), (s, t) => TrickleAsync(s, TimeSpan.FromSeconds(1), int.MaxValue, t), stop));
        }

        for (int i = 0; i < settings.Tricklers; i++)
        {
            tasks.Add(RepeatAsync(NextAddress(), (s, t) => TrickleAsync(s, TimeSpan.FromMilliseconds(1), 2000, t), stop));
        }

        for (int i = 0; i < settings.Silent; i++)
        {
            tasks.Add(RepeatAsync(NextAddress(), SilentAsync, stop));
        }

        for (int i = 0; i < settings.Sprayers; i++)
        {
            tasks.Add(RepeatAsync(NextAddress(), SprayAsync, stop));
        }

        for (int i = 0; i < settings.HistoryHogs; i++)
        {
            tasks.Add(RepeatAsync(NextAddress(), HistoryHogAsync, stop));
        }

        return [.. tasks];
    }

    /// <summary>Runs one attacker's connection again and again (the server closes them) until the window ends.</summary>
    private async Task RepeatAsync(IPAddress from, Func<Socket, CancellationToken, Task> attack, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                socket.Bind(new IPEndPoint(from, 0));
                await socket.ConnectAsync(server, stop);
                Interlocked.Increment(ref _attackConnections);
                await attack(socket, stop);
            }
            catch (Exception ex) when (ex is SocketException or IOException)
            {
                // Closed or refused by the server: that is its job. Come back.
                Interlocked.Increment(ref _attackerRefusals);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            // Bounded: at most ten connections a second per attacker.
            await Task.Delay(100, stop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>Commands as the protocol codec writes them, each ending its line (the abusers speak the real protocol where they speak it at all).</summary>
    private static byte[] Lines(params Action<ArrayBufferWriter<byte>>[] commands)
    {
        var buffer = new ArrayBufferWriter<byte>();
        foreach (Action<ArrayBufferWriter<byte>> write in commands)
        {
            write(buffer);
            buffer.Write("\n"u8);
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static async Task<bool> DrainUntilClosedAsync(Socket socket, byte[] buffer, CancellationToken stop) =>
        await socket.ReceiveAsync(buffer, SocketFlags.None, stop) == 0;

    private static async Task Utf8FloodAsync(Socket socket, CancellationToken stop)
    {
        byte[] line = [.. "{\"_ct\":\""u8, 0xFF, .. "\"}\n"u8];
        byte[] buffer = new byte[4096];
        while (!stop.IsCancellationRequested)
        {
            await socket.SendAsync(line, SocketFlags.None, stop);
            if (await DrainUntilClosedAsync(socket, buffer, stop))
            {
                return;
            }

            await Task.Delay(10, stop); // ~100 bad lines a second each: the 1000 a second from ten
        }
    }

    private static async Task TrickleAsync(Socket socket, TimeSpan every, int bytes, CancellationToken stop)
    {
        byte[] one = "{"u8.ToArray();
        for (int i = 0; i < bytes && !stop.IsCancellationRequested; i++)
        {
            await socket.SendAsync(one, SocketFlags.None, stop);
            one[0] = (byte)'x';
            await Task.Delay(every, stop);
        }

        // Then hold the unfinished line until the server gives up on it.
        await DrainUntilClosedAsync(socket, new byte[4096], stop);
    }

    private static async Task SilentAsync(Socket socket, CancellationToken stop)
    {
        byte[] buffer = new byte[4096];
        while (!await DrainUntilClosedAsync(socket, buffer, stop))
        {
        }
    }

    private static async Task SprayAsync(Socket socket, CancellationToken stop)
    {
        using var stream = new NetworkStream(socket, ownsSocket: false);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        for (int i = 0; !stop.IsCancellationRequested; i++)
        {
            await stream.WriteAsync(Lines(b => ChatCommandWriter.WriteLogin(b, "victim", $"guess {i}")), stop);
            if (await reader.ReadLineAsync(stop) is null)
            {
                return;
            }

            await Task.Delay(500, stop); // two guesses a second each: 80 a second from forty

        }
    }

    private static async Task HistoryHogAsync(Socket socket, CancellationToken stop)
    {
        using var stream = new NetworkStream(socket, ownsSocket: false);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        await stream.WriteAsync(Lines(b => ChatCommandWriter.WriteLogin(b, "attacker", AttackerPassword), b => ChatCommandWriter.WriteJoinRoom(b, "random")), stop);
        byte[] history = Lines(b => ChatCommandWriter.WriteHistory(b, "random", limit: 100000));
        byte[] big = Lines(b => ChatCommandWriter.WriteSendMessage(b, "random", new string('x', 4000)));
        for (int i = 0; !stop.IsCancellationRequested; i++)
        {
            // Fill the room with big messages, and ask for as much of them as the server allows.
            await stream.WriteAsync(i % 4 == 0 ? history : big, stop);
            if (await reader.ReadLineAsync(stop) is null)
            {
                return;
            }

            await Task.Delay(50, stop); // twenty requests a second each
        }
    }

    /// <summary>The honest user: logs in from 127.0.0.2, joins general, sends on a timer, times each ack.</summary>
    private sealed class HonestClient : IAsyncDisposable
    {
        private readonly Socket _socket;
        private readonly NetworkStream _stream;
        private readonly StreamReader _reader;
        private readonly Queue<long> _inFlight = new();
        private readonly Lock _lock = new();
        private readonly Task _reading;
        private LatencyHistogram _latencies = new();

        private HonestClient(Socket socket)
        {
            _socket = socket;
            _stream = new NetworkStream(socket, ownsSocket: true);
            _reader = new StreamReader(_stream, Encoding.UTF8);
            _reading = Task.Run(ReadAsync);
        }

        public long Sent { get; private set; }

        public long Acknowledged { get; private set; }

        public bool Disconnected { get; private set; }

        public static async Task<HonestClient> ConnectAsync(IPEndPoint server, CancellationToken cancellationToken)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            socket.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
            await socket.ConnectAsync(server, cancellationToken);
            var client = new HonestClient(socket);
            await client._stream.WriteAsync(Lines(b => ChatCommandWriter.WriteLogin(b, "honest", Password), b => ChatCommandWriter.WriteJoinRoom(b, "general")), cancellationToken);
            return client;
        }

        public LatencyHistogram TakeLatencies()
        {
            lock (_lock)
            {
                LatencyHistogram taken = _latencies;
                _latencies = new LatencyHistogram();
                return taken;
            }
        }

        public async Task SendLoopAsync(TimeSpan interval, CancellationToken stop)
        {
            using var timer = new PeriodicTimer(interval);
            for (long i = 0; await timer.WaitForNextTickAsync(stop); i++)
            {
                byte[] line = Lines(b => ChatCommandWriter.WriteSendMessage(b, "general", $"honest message {i}"));
                lock (_lock)
                {
                    _inFlight.Enqueue(Stopwatch.GetTimestamp());
                    Sent++;
                }

                await _stream.WriteAsync(line, stop);
            }
        }

        private async Task ReadAsync()
        {
            try
            {
                while (await _reader.ReadLineAsync() is { } line)
                {
                    if (!ChatEventReader.TryReadHeader(Encoding.UTF8.GetBytes(line), out ChatEventHeader header))
                    {
                        break; // not the chat protocol: counted below as a disconnect
                    }

                    if (header.Type is ChatEventType.MessageAck or ChatEventType.Error)
                    {
                        lock (_lock)
                        {
                            if (_inFlight.TryDequeue(out long sentAt))
                            {
                                _latencies.Record((long)Stopwatch.GetElapsedTime(sentAt).TotalMicroseconds);
                                Acknowledged += header.Type == ChatEventType.MessageAck ? 1 : 0;
                            }
                        }
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException)
            {
                // Counted below as a disconnect.
            }

            Disconnected = true;
        }

        public async ValueTask DisposeAsync()
        {
            bool wasDisconnected = Disconnected;
            _socket.Shutdown(SocketShutdown.Both);
            await _reading;
            Disconnected = wasDisconnected;
            _reader.Dispose();
            await _stream.DisposeAsync();
        }
    }
}

/// <summary>How hard and how long <c>bench abuse</c> pushes.</summary>
internal sealed record AbuseSettings(TimeSpan Warmup, TimeSpan Duration, TimeSpan After, TimeSpan Interval)
{
    public int Utf8Flooders { get; init; } = 10;

    public int SlowLoris { get; init; } = 300;

    public int Tricklers { get; init; } = 20;

    public int Silent { get; init; } = 50;

    public int Sprayers { get; init; } = 40;

    public int HistoryHogs { get; init; } = 4;
}

/// <summary>What <c>bench abuse</c> measured.</summary>
internal sealed record AbuseResult(
    LatencyHistogram Quiet,
    LatencyHistogram UnderAbuse,
    LatencyHistogram After,
    long Sent,
    long Acknowledged,
    bool HonestDisconnected,
    double IdleRssMb,
    double PeakRssMb,
    double AfterRssMb,
    long AttackConnections,
    long AttackerClosures);
