using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Parley.Ipc;

namespace Parley.Bench;

/// <summary>
/// <c>parley bench ipc --pattern connection</c>: the <see cref="Connection"/> API over shared
/// memory — a <see cref="ParleyClient"/> here, a <c>parley echo --transport ipc</c> child there,
/// M messages in flight, each reply answered with a new message — and with <c>--compare</c> the
/// same over TCP loopback. What an application that switches with <c>--transport ipc</c> gets.
/// </summary>
internal static partial class IpcConnectionBench
{
    private static readonly TimeSpan Warmup = TimeSpan.FromSeconds(1);

    public static async Task<JsonObject> RunAsync(string transport, IpcBenchSettings s, int inflight, CancellationToken cancellationToken)
    {
        string name = $"bench-{Environment.ProcessId}-echo";
        string[] arguments = transport == "ipc"
            ? ["echo", "--transport", "ipc", "--name", name, "--log-level", "Warning", "--summary-interval", "3600"]
            : ["echo", "--port", "0", "--log-level", "Warning", "--summary-interval", "3600"];
        using Process server = SelfProcess.Start(arguments, "echo server");
        try
        {
            string address = await ListeningAddressAsync(server, cancellationToken);
            var options = new ParleyClientOptions { ConnectTimeout = TimeSpan.FromSeconds(20) };
            if (transport == "ipc")
            {
                options.Dialer = new IpcConnectionDialer(name);
            }
            else
            {
                options.RemoteEndPoint = ServerUnderTest.TryParseTarget(address, out IPEndPoint? endPoint)
                    ? endPoint
                    : throw new InvalidOperationException($"the echo server printed an address that is not host:port: {address}");
            }

            await using var client = new ParleyClient(options);
            var pinger = new Pinger(s.Size);
            client.MessageReceived += pinger.OnReply;
            await client.ConnectAsync(cancellationToken);
            byte[] first = new byte[s.Size]; // not the pinger's buffer: replies may already be answered on the receive loop
            for (int i = 0; i < inflight; i++)
            {
                BinaryPrimitives.WriteInt64LittleEndian(first, Stopwatch.GetTimestamp());
                pinger.Sent(client.Send(first));
            }

            await Task.Delay(Warmup, cancellationToken);
            var cpu = new CpuMeter(server);
            cpu.Start();
            long start = Stopwatch.GetTimestamp();
            pinger.Measure(true);
            await Task.Delay(s.Duration, cancellationToken);
            pinger.Measure(false);
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            JsonObject cpuPercent = cpu.Stop(seconds);
            (long replies, LatencyHistogram latency) = pinger.Results();
            (long sent, long received) = await pinger.DrainAsync(cancellationToken);
            return new JsonObject
            {
                ["transport"] = transport,
                ["inflight"] = inflight,
                ["sent"] = sent,
                ["received"] = received,
                ["msgs_per_s"] = Math.Round(replies / seconds),
                ["mib_per_s"] = Math.Round(replies * (double)s.Size / seconds / (1024 * 1024), 1),
                ["latency_ns"] = latency.ToJson(),
                ["cpu_percent"] = cpuPercent,
            };
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill();
            }

            await server.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
        }
    }

    // "parley echo listening on ADDRESS (…)": the address, once the server listens.
    private static async Task<string> ListeningAddressAsync(Process server, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(TimeSpan.FromSeconds(30));
        while (await server.StandardOutput.ReadLineAsync(deadline.Token) is { } line)
        {
            Match match = ListeningLine().Match(line);
            if (match.Success)
            {
                _ = server.StandardOutput.ReadToEndAsync(CancellationToken.None); // keep draining: a full pipe would stall the server
                return match.Groups[1].Value;
            }
        }

        throw new InvalidOperationException("the echo server exited before it listened");
    }

    [GeneratedRegex(@"listening on (\S+)")]
    private static partial Regex ListeningLine();

    /// <summary>Answers every reply with a new message stamped with the time; replies come in order on one thread.</summary>
    private sealed class Pinger(int size)
    {
        private readonly byte[] _message = new byte[size];
        private readonly LatencyHistogram _latency = new();
        private volatile bool _measuring;
        private volatile bool _draining;
        private long _replies;
        private long _sent;
        private long _received;

        public void Sent(SendStatus status)
        {
            if (status == SendStatus.Queued)
            {
                Interlocked.Increment(ref _sent);
            }
        }

        /// <summary>Stops answering and waits (up to 30 s) until every message sent has come back: none may be lost.</summary>
        public async Task<(long Sent, long Received)> DrainAsync(CancellationToken cancellationToken)
        {
            _draining = true;
            for (int i = 0; i < 3000 && Interlocked.Read(ref _received) < Interlocked.Read(ref _sent); i++)
            {
                await Task.Delay(10, cancellationToken);
            }

            return (Interlocked.Read(ref _sent), Interlocked.Read(ref _received));
        }

        public void Measure(bool on) => _measuring = on;

        public (long Replies, LatencyHistogram Latency) Results()
        {
            lock (_latency)
            {
                return (Interlocked.Read(ref _replies), _latency);
            }
        }

        public void OnReply(Connection connection, ReadOnlySequence<byte> reply)
        {
            Interlocked.Increment(ref _received);
            if (reply.Length != _message.Length)
            {
                throw new InvalidDataException($"a {_message.Length}-byte message came back with {reply.Length} bytes");
            }

            if (_draining)
            {
                return;
            }

            if (_measuring)
            {
                Span<byte> stamp = stackalloc byte[8];
                reply.Slice(0, 8).CopyTo(stamp);
                long elapsed = Stopwatch.GetTimestamp() - BinaryPrimitives.ReadInt64LittleEndian(stamp);
                Interlocked.Increment(ref _replies);
                lock (_latency)
                {
                    _latency.Record((long)(elapsed * 1e9 / Stopwatch.Frequency));
                }
            }

            BinaryPrimitives.WriteInt64LittleEndian(_message, Stopwatch.GetTimestamp());
            Sent(connection.Send(_message));
        }
    }
}
