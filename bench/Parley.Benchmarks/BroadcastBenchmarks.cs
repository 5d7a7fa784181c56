using System.Net;
using BenchmarkDotNet.Attributes;
using Parley.Internal;

namespace Parley.Benchmarks;

/// <summary>
/// Queueing one 100-byte message for 1000 recipients: encoded once and shared (a group
/// broadcast) against encoded once per recipient (a loop of sends). The connections run over
/// a transport that completes every write at once, so the figure is Parley's own cost:
/// framing, reference counting, enqueueing, waking and draining the send loops.
/// </summary>
[MemoryDiagnoser]
public class BroadcastBenchmarks
{
    private const int Recipients = 1000;
    private readonly byte[] _payload = new byte[100];
    private readonly List<Connection> _connections = [];
    private ConnectionGroup _group = null!;

    [GlobalSetup]
    public void Setup()
    {
        var options = new ConnectionOptions { MaxSendQueueBytes = 64 * 1024 * 1024, IdleTimeout = Timeout.InfiniteTimeSpan };
        _group = new ConnectionGroup("bench", options.Framer, options.BufferPool);
        for (int i = 0; i < Recipients; i++)
        {
            var connection = new Connection(new NullTransport(), options, liveness: null);
            connection.TryStart();
            _connections.Add(connection);
            _group.Add(connection);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (Connection connection in _connections)
        {
            connection.Abort();
        }
    }

    [Benchmark(Baseline = true)]
    public int SendToEach()
    {
        int queued = 0;
        foreach (Connection connection in _connections)
        {
            if (connection.Send(_payload) == SendStatus.Queued)
            {
                queued++;
            }
        }

        return queued;
    }

    [Benchmark]
    public int BroadcastOnce() => _group.Broadcast(_payload);

    /// <summary>Never receives anything; completes every write at once.</summary>
    private sealed class NullTransport : Transport
    {
        private readonly TaskCompletionSource<int> _never = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override EndPoint? LocalEndPoint => null;

        public override EndPoint? RemoteEndPoint => null;

        public override int AvailableBytes => 0;

        public override ValueTask<int> ReceiveAsync(Memory<byte> buffer) => new(_never.Task);

        public override ValueTask<int> SendAsync(ReadOnlyMemory<byte> buffer) => new(buffer.Length);

        public override ValueTask ShutdownSendAsync() => ValueTask.CompletedTask;

        public override void Dispose() => _never.TrySetResult(0);
    }
}
