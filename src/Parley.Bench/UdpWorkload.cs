using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using Parley.Udp;

namespace Parley.Bench;

/// <summary>What <c>parley bench udp</c> runs.</summary>
internal sealed record UdpBenchSettings(
    string Pattern,
    int Peers,
    int Size,
    TimeSpan Duration,
    double Rate,
    DeliveryMode Mode,
    NetworkConditions Conditions,
    int Inflight,
    int MaxPacketSize)
{
    /// <summary>Messages each session may have pending (0: 65536 up to 4 sessions, else 1024).</summary>
    public int Queue { get; init; }

    /// <summary>
    /// Per-session pending limit, also the size of the send-time ring. Up to 4 sessions, the
    /// library's default (65536): a saturating stream needs its windows to cover the round
    /// trip as this 2-core machine stretches it — scheduling delays of several milliseconds,
    /// not loopback's microseconds (8192 held a 64-byte stream to ~0.9 M msgs/s at 30-40 %
    /// idle CPU; 65536 gives ~1.6 M). Its latency is then mostly its own queue (Little's law).
    /// </summary>
    public int PendingPerSession => Queue > 0 ? (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Queue) : Peers <= 4 ? 65536 : 1024;

    /// <summary>UDP segmentation offload on both hosts (Linux; see <see cref="UdpHostOptions.SegmentationOffload"/>).</summary>
    public bool Offload { get; init; } = true;

    /// <summary>Events raised on the hosts' own threads (see <see cref="UdpHostOptions.UnsafePreferInlineScheduling"/>): the bench's handlers never block.</summary>
    public bool InlineEvents { get; init; }

    /// <summary>The payload's stamp: sender peer index, sequence, send time (Stopwatch ticks).</summary>
    public const int StampSize = 16;
}

/// <summary>One run's counts and distributions.</summary>
internal sealed class UdpRunResult
{
    public long Sent;
    public long Delivered;
    public long Lost;
    public long Undelivered;
    public long AllocatedBytes;
    public int Gen0Collections;
    public long Duplicated;
    public long Reordered;
    public long PayloadBytes;
    public double Seconds;
    public double OfferedPerSecond;
    public LatencyHistogram Delivery { get; } = new();
    public LatencyHistogram DeliveryAtClient { get; } = new();
    public LatencyHistogram Confirmation { get; } = new();
    public LatencyHistogram RoundTrip { get; } = new();
    public UdpStatistics Client { get; set; } = new();
    public UdpStatistics Server { get; set; } = new();
}

/// <summary>
/// The reliable-UDP workloads, in process: a server host and a client host on loopback, the
/// client opening <c>Peers</c> sessions (one socket carries them all: sessions are told apart by
/// id, not by port). Loss and delay come from <see cref="UdpHostOptions.SimulatedConditions"/>
/// on both hosts. Every payload carries a stamp (peer, sequence, send time) so the receiver
/// measures one-way delivery latency and checks order; the sender measures the time to the
/// delivered confirmation. Not a test: it reports.
/// </summary>
internal sealed class UdpWorkload(UdpBenchSettings settings)
{
    [ThreadStatic]
    private static byte[]? t_payload;

    public async Task<UdpRunResult> RunAsync(Action<string> progress, CancellationToken cancellationToken)
    {
        int ring = settings.PendingPerSession;
        long WindowBytes() => Math.Clamp((long)ring * settings.Size, 8L * 1024 * 1024, 256L * 1024 * 1024);
        UdpHostOptions Options(int seed) => new()
        {
            MaxPacketSize = settings.MaxPacketSize,
            SegmentationOffload = settings.Offload,
            UnsafePreferInlineScheduling = settings.InlineEvents,
            MaxPendingMessages = ring,
            MaxPendingBytes = Math.Max(64L * 1024 * 1024 / Math.Max(1, settings.Peers), 2L * 1024 * 1024),
            MaxMessageSize = Math.Max(1024 * 1024, settings.Size),
            ReceiveWindowBytes = (int)WindowBytes(),
            MaxEnqueuedMessages = Math.Max(8192, ring),
            MaxPeers = settings.Peers + 16,
            MaxPeersPerAddress = settings.Peers + 16, // every bench session comes from one socket
            MaxReassembliesPerPeer = (int)Math.Clamp(WindowBytes() / Math.Max(1, settings.Size) + 1, 64, 1 << 20), // a window's worth of messages
            MaxReassemblyBytes = Math.Max(256L * 1024 * 1024, 2 * WindowBytes()),
            MaxReassemblyBytesPerAddress = Math.Max(256L * 1024 * 1024, 2 * WindowBytes()), // one address: the bench's own socket
            SimulatedConditions = settings.Conditions == NetworkConditions.Perfect ? null : settings.Conditions,
            SimulationSeed = seed,
        };

        await using UdpHost server = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0), Options(1));
        await using UdpHost client = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0), Options(2));
        var result = new UdpRunResult();
        bool fanOut = settings.Pattern == "n-to-n";
        int sampleEvery = settings.Pattern is "stream" or "bidi" ? 8 : 1;
        var trackers = new SequenceTracker[settings.Peers];
        var clientTrackers = new SequenceTracker[settings.Peers * (fanOut ? settings.Peers : 1)]; // per receiving session and sender
        var sentAt = new long[settings.Peers][];
        var sequence = new int[settings.Peers];
        var serverSequence = new int[settings.Peers];
        var serverPeers = new List<UdpPeer>();
        bool stop = false;

        // Handlers of different sessions run concurrently (UDP raises events outside its lock,
        // one session's in order): the trackers and histograms a host's handlers share are
        // updated under that host's lock here (the counters both hosts add to are interlocked).
        // One lock per host, not one for both: the two hosts' event runs are two threads going
        // at full speed, and one shared lock taken per event bounced between the two cores
        // (its contended path was ~4 % of the run's CPU on a 64-byte stream).
        var serverGate = new Lock();
        var clientGate = new Lock();
        int size = Math.Max(settings.Size, UdpBenchSettings.StampSize);

        // The server side: count, check order, measure delivery latency; echo or relay by pattern.
        server.PeerConnected += peer =>
        {
            lock (serverGate)
            {
                serverPeers.Add(peer);
            }
        };
        server.MessageReceived += (UdpPeer peer, in UdpMessage message) =>
        {
            using Lock.Scope held = serverGate.EnterScope();
            (int from, int seq, long stamp) = Read(message.Data);
            if (!fanOut)
            {
                if (stamp != 0)
                {
                    result.Delivery.Record(Micros(Stopwatch.GetTimestamp() - stamp));
                }

                Count(ref trackers[from], seq, result, message.Data.Length);
            }

            switch (settings.Pattern)
            {
                case "req-resp":
                    peer.Send(message.Data, message.Mode, message.Channel);
                    break;
                case "n-to-n":
                    foreach (UdpPeer other in serverPeers)
                    {
                        other.Send(message.Data, message.Mode, message.Channel);
                    }

                    break;
            }
        };

        // The client side: confirmations, round trips, and (bidi / n-to-n) what the server sends.
        var peers = new UdpPeer[settings.Peers];
        client.MessageStateChanged += (peer, id, state) =>
        {
            if (state == MessageState.Delivered && peer.UserData is int index) // the session's index, set before any message flows
            {
                using Lock.Scope held = clientGate.EnterScope(); // only the state it records: most states are not
                // The slot is written right after Send returns; a confirmation can beat that when
                // the sending thread is preempted (2 cores, 6 threads): such a sample is skipped.
                long at = Volatile.Read(ref sentAt[index][id & (uint)(ring - 1)]);
                if (at != 0)
                {
                    result.Confirmation.Record(Micros(Stopwatch.GetTimestamp() - at));
                    sentAt[index][id & (uint)(ring - 1)] = 0;
                }
            }
        };
        client.MessageReceived += (UdpPeer peer, in UdpMessage message) =>
        {
            using Lock.Scope held = clientGate.EnterScope();
            (int from, int seq, long stamp) = Read(message.Data);
            if (settings.Pattern == "req-resp")
            {
                result.RoundTrip.Record(Micros(Stopwatch.GetTimestamp() - stamp));
                if (!stop)
                {
                    SendStamped(peer, from);
                }
            }
            else
            {
                if (stamp != 0)
                {
                    result.DeliveryAtClient.Record(Micros(Stopwatch.GetTimestamp() - stamp));
                }

                int slot = fanOut ? ((int)peer.UserData! * settings.Peers) + from : from;
                Count(ref clientTrackers[slot], seq, result, message.Data.Length);
            }
        };

        progress($"connecting {settings.Peers} session(s)");
        for (int i = 0; i < settings.Peers; i++)
        {
            sentAt[i] = new long[ring];
            peers[i] = await client.ConnectAsync(server.LocalEndPoint, cancellationToken);
            peers[i].UserData = i; // the session's index, set before any message flows, so the handlers only read it
        }

        // PeerConnected is raised after the session is counted: wait for the list, not the count.
        while (true)
        {
            lock (serverGate)
            {
                if (serverPeers.Count >= settings.Peers)
                {
                    break;
                }
            }

            await Task.Delay(10, cancellationToken);
        }

        // True when queued. Req-resp counts here (it sends from several threads); the send loops count
        // locally and add once at the end: a shared counter per message bounced its cache line between cores.
        bool SendStamped(UdpPeer peer, int index)
        {
            // Req-resp sends from the starting loop and from the receive thread at once: the
            // buffer is per thread and the sequence is taken atomically.
            byte[] payload = t_payload is { } buffer && buffer.Length == size ? buffer : t_payload = new byte[size];
            int seq = settings.Pattern == "req-resp" ? Interlocked.Increment(ref sequence[index]) - 1 : sequence[index];
            BinaryPrimitives.WriteInt32LittleEndian(payload, index);
            BinaryPrimitives.WriteInt32LittleEndian(payload.AsSpan(4), seq);
            // One clock read stamps the payload and starts the confirmation timer. The throughput
            // patterns time one message in eight (0 = not timed): the bench's own clock reads were a
            // tenth of the CPU there; latency patterns time every message.
            long now = sampleEvery == 1 || (seq & (sampleEvery - 1)) == 0 ? Stopwatch.GetTimestamp() : 0;
            BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(8), now);
            SendResult sent = peer.Send(payload, settings.Mode);
            if (sent.IsQueued)
            {
                Volatile.Write(ref sentAt[index][sent.MessageId & (uint)(ring - 1)], now);
                if (settings.Pattern != "req-resp")
                {
                    sequence[index] = seq + 1;
                }
                else
                {
                    Interlocked.Increment(ref result.Sent);
                }
            }

            return sent.IsQueued;
        }

        progress($"{settings.Pattern}: running {settings.Duration.TotalSeconds:0.#} s");
        using var trace = Environment.GetEnvironmentVariable("PARLEY_BENCH_TRACE") == "1" ? new Timer(_ =>
        {
            // Diagnostics for protocol work (stderr, once a second): what holds the first session back.
            UdpStatistics s = peers[0].GetStatistics();
            Console.Error.WriteLine($"trace cwnd={s.CongestionWindow} inflight={s.BytesInFlight} credit={s.SendCredit} queued={s.QueuedMessages} pending={s.PendingMessages} srtt={s.SmoothedRtt.TotalMilliseconds:0.0} rto={s.Rto.TotalMilliseconds:0.0} lost={s.PacketsLost} timeouts={s.Timeouts} delivered={Interlocked.Read(ref result.Delivered)}");
        }, null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1)) : null;
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: false);
        int gen0Before = GC.CollectionCount(0);
        var clock = Stopwatch.StartNew();
        if (settings.Pattern == "req-resp")
        {
            foreach ((UdpPeer peer, int i) in peers.Select((p, i) => (p, i)))
            {
                for (int k = 0; k < settings.Inflight; k++)
                {
                    SendStamped(peer, i);
                }
            }

            await Task.Delay(settings.Duration, cancellationToken);
        }
        else
        {
            var senders = new List<Thread>
            {
                new(() => SendLoop(peers, i => SendStamped(peers[i], i), clock)) { IsBackground = true, Name = "bench-udp-client" },
            };
            if (settings.Pattern == "bidi")
            {
                UdpPeer[] reverse = [.. serverPeers.OrderBy(p => p.RemoteSessionId)];
                int[] clientIndex = [.. reverse.Select(r => Array.FindIndex(peers, p => p.LocalSessionId == r.RemoteSessionId))]; // once, not per message
                byte[] serverPayload = new byte[size];
                senders.Add(new Thread(() => SendLoop(reverse, i =>
                {
                    int index = clientIndex[i];
                    BinaryPrimitives.WriteInt32LittleEndian(serverPayload, index);
                    BinaryPrimitives.WriteInt32LittleEndian(serverPayload.AsSpan(4), serverSequence[index]);
                    BinaryPrimitives.WriteInt64LittleEndian(serverPayload.AsSpan(8), Stopwatch.GetTimestamp());
                    if (!reverse[i].Send(serverPayload, settings.Mode).IsQueued)
                    {
                        return false;
                    }

                    serverSequence[index]++;
                    return true;
                }, clock)) { IsBackground = true, Name = "bench-udp-server" });
            }

            senders.ForEach(t => t.Start());
            senders.ForEach(t => t.Join());
        }

        stop = true;
        result.Seconds = clock.Elapsed.TotalSeconds;
        result.AllocatedBytes = GC.GetTotalAllocatedBytes(precise: false) - allocatedBefore;
        result.Gen0Collections = GC.CollectionCount(0) - gen0Before;
        result.OfferedPerSecond = settings.Rate * settings.Peers;

        // Drain: reliable messages still in flight get a few seconds to arrive before counting loss.
        progress("draining");
        var drain = Stopwatch.StartNew();
        while (drain.Elapsed < TimeSpan.FromSeconds(settings.Mode == DeliveryMode.Unreliable ? 1 : 60)
            && peers.Concat(serverPeers).Any(p => p.State == PeerState.Connected && p.GetStatistics().PendingMessages > 0))
        {
            await Task.Delay(20, CancellationToken.None);
        }

        await Task.Delay(100, CancellationToken.None);
        long expected = fanOut ? result.Sent * settings.Peers : result.Sent;
        result.Undelivered = peers.Concat(serverPeers).Sum(p => (long)p.GetStatistics().PendingMessages);
        result.Lost = Math.Max(0, expected - Interlocked.Read(ref result.Delivered) - result.Undelivered);
        result.Delivery.Add(result.DeliveryAtClient);

        result.Client = client.GetStatistics();
        result.Server = server.GetStatistics();
        return result;

        void SendLoop(UdpPeer[] targets, Func<int, bool> send, Stopwatch started)
        {
            long sent = 0;
            // Unlimited rate (0): keep every queue full. Otherwise send each peer's due messages every millisecond.
            double perPeer = settings.Rate;
            var sentSoFar = new long[targets.Length];
            var spin = new SpinWait();
            while (started.Elapsed < settings.Duration && !cancellationToken.IsCancellationRequested)
            {
                bool progressMade = false;
                for (int i = 0; i < targets.Length; i++)
                {
                    if (perPeer <= 0)
                    {
                        long before = sent;
                        for (int burst = 0; burst < 64; burst++)
                        {
                            sent += send(i) ? 1 : 0;
                        }

                        progressMade |= sent != before;
                    }
                    else
                    {
                        // Each session has its own phase, as independent clients would: not all in the same millisecond.
                        long due = (long)((started.Elapsed.TotalSeconds * perPeer) + ((double)i / targets.Length));
                        while (sentSoFar[i] < due)
                        {
                            sent += send(i) ? 1 : 0;
                            sentSoFar[i]++;
                        }
                    }
                }

                if (perPeer > 0)
                {
                    Thread.Sleep(1);
                }
                else if (!progressMade)
                {
                    spin.SpinOnce(); // every queue is full: let the hosts' threads drain them
                }
            }

            Interlocked.Add(ref result.Sent, sent);
        }
    }

    private static (int From, int Sequence, long Stamp) Read(ReadOnlySpan<byte> data) => data.Length < UdpBenchSettings.StampSize
        ? (0, 0, Stopwatch.GetTimestamp())
        : (BinaryPrimitives.ReadInt32LittleEndian(data), BinaryPrimitives.ReadInt32LittleEndian(data[4..]), BinaryPrimitives.ReadInt64LittleEndian(data[8..]));

    private static void Count(ref SequenceTracker tracker, int sequence, UdpRunResult result, int bytes)
    {
        switch (tracker.Record(sequence))
        {
            case Arrival.Duplicate:
                Interlocked.Increment(ref result.Duplicated);
                return;
            case Arrival.Reordered:
                Interlocked.Increment(ref result.Reordered);
                break;
        }

        Interlocked.Increment(ref result.Delivered);
        Interlocked.Add(ref result.PayloadBytes, bytes);
    }

    private static long Micros(long ticks) => ticks * 1_000_000 / Stopwatch.Frequency;
}
