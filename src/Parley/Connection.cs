using System.IO.Pipelines;
using System.Net;
using Microsoft.Extensions.Logging;
using Parley.Internal;

namespace Parley;

/// <summary>
/// One message-oriented connection: a receive loop that parses frames, a send queue drained by
/// a send loop that merges queued frames into vectored writes, liveness and a recorded close
/// reason. Accepted by a <see cref="ParleyServer"/> or opened by a client.
/// </summary>
/// <remarks>
/// Thread-safety: <see cref="Send(ReadOnlySpan{byte})"/>, <see cref="SendAsync"/>,
/// <see cref="CloseAsync()"/> and <see cref="Abort"/> may be called from any thread at any time.
/// Messages are read by exactly one consumer: the event pump of a server or client, or
/// <see cref="ReadMessagesAsync"/>.
/// </remarks>
public sealed partial class Connection : IAsyncDisposable
{
    private static long s_nextId;

    // Who owns the input pipe's reader. Released means the connection closed before anyone
    // claimed it and the close completed it: a reader that comes later gets an ended stream.
    private const int ReaderFree = 0;
    private const int ReaderClaimed = 1;
    private const int ReaderReleased = 2;

    private readonly Transport _transport;
    private readonly ConnectionOptions _options;
    private readonly MessageFramer _framer;
    private readonly BufferPool _pool;
    private readonly ILogger _logger;
    private readonly Pipe _input;
    private readonly SendQueue _sendQueue;
    private readonly CancellationTokenSource _closedSource = new();
    private readonly LivenessMonitor? _liveness;
    private readonly LogRateLimiter _peerLog;
    private readonly IReadOnlyList<MessageMiddleware> _middleware;
    private MiddlewarePipeline.Buffers? _decodeBuffers;
    private readonly TimeProvider _time;
    private readonly long _idleTimeout;
    private readonly long _keepAliveInterval;
    private readonly long _incompleteMessageTimeout;

    private int _state;
    private int _closeReason;
    private Exception? _closeException;
    private int _reader; // ReaderFree, ReaderClaimed or ReaderReleased
    private int _finalized;
    private Task _receiveTask = Task.CompletedTask;
    private Task _sendTask = Task.CompletedTask;
    private long _lastReceiveTicks;
    private long _lastSendTicks;
    private long _incompleteSince;
    private long _incompleteFromBytes;
    private readonly long _incompleteAllowanceBytes;
    private long _bytesReceived;
    private long _bytesSent;
    private long _messagesReceived;
    private long _messagesSent;
    private long _messagesDropped;

    internal Connection(Transport transport, ConnectionOptions options, LivenessMonitor? liveness, LogRateLimiter? peerLog = null)
    {
        _peerLog = peerLog ?? PeerLogBudget.Shared;
        _transport = transport;
        _options = options;
        _framer = options.Framer;
        _middleware = options.Middleware;
        _pool = options.BufferPool;
        _logger = options.LoggerFactory.CreateLogger<Connection>();
        _liveness = liveness;
        _time = options.TimeProvider;
        _idleTimeout = ToTimestampUnits(options.IdleTimeout);
        _keepAliveInterval = ToTimestampUnits(options.KeepAliveInterval);
        _incompleteMessageTimeout = ToTimestampUnits(options.IncompleteMessageTimeout);
        _incompleteAllowanceBytes = options.MinMessageDataRate == 0 || options.IncompleteMessageTimeout == Timeout.InfiniteTimeSpan
            ? long.MaxValue
            : Math.Max(1, (long)(options.MinMessageDataRate * options.IncompleteMessageTimeout.TotalSeconds));
        Id = Interlocked.Increment(ref s_nextId);
        LocalEndPoint = transport.LocalEndPoint;
        RemoteEndPoint = transport.RemoteEndPoint;

        // The pipe only buffers what the parser has not consumed: at most one frame plus one read.
        long pause = (long)_framer.MaxMessageSize + 64 + (2L * options.ReadBufferSize);
        _input = new Pipe(new PipeOptions(
            pool: _pool.PipePool,
            readerScheduler: PipeScheduler.Inline,
            writerScheduler: PipeScheduler.Inline,
            pauseWriterThreshold: pause,
            resumeWriterThreshold: pause / 2,
            minimumSegmentSize: options.ReadBufferSize,
            useSynchronizationContext: false));
        _sendQueue = new SendQueue(options.MaxSendQueueBytes, options.SlowConsumerPolicy);
    }

    /// <summary>A process-wide unique, increasing id, for logs and lookups.</summary>
    public long Id { get; }

    /// <summary>This side's address.</summary>
    public EndPoint? LocalEndPoint { get; }

    /// <summary>The peer's address.</summary>
    public EndPoint? RemoteEndPoint { get; }

    /// <summary>Where the connection is in its life cycle.</summary>
    public ConnectionState State => (ConnectionState)Volatile.Read(ref _state);

    /// <summary>Why the connection closed (or is closing); <see cref="CloseReason.None"/> while open.</summary>
    public CloseReason CloseReason => (CloseReason)Volatile.Read(ref _closeReason);

    /// <summary>The error behind <see cref="CloseReason"/>, when there was one.</summary>
    public Exception? CloseException => Volatile.Read(ref _closeException);

    /// <summary>Cancelled once the connection is fully closed and its resources are released.</summary>
    public CancellationToken Closed => _closedSource.Token;

    /// <summary>The framer in use, e.g. to encode a frame once for many connections.</summary>
    public MessageFramer Framer => _framer;

    /// <summary>Application data attached to this connection (a session, a user). Not used by Parley.</summary>
    public object? UserData { get; set; }

    /// <summary>Bytes read from the transport.</summary>
    public long BytesReceived => Volatile.Read(ref _bytesReceived);

    /// <summary>Bytes written to the transport.</summary>
    public long BytesSent => Volatile.Read(ref _bytesSent);

    /// <summary>Messages delivered to the application.</summary>
    public long MessagesReceived => Volatile.Read(ref _messagesReceived);

    /// <summary>Frames written to the transport, keep-alives excluded.</summary>
    public long MessagesSent => Volatile.Read(ref _messagesSent);

    /// <summary>Outbound frames dropped by the slow-consumer policy.</summary>
    public long MessagesDropped => Volatile.Read(ref _messagesDropped);

    /// <summary>Bytes waiting in the send queue (not yet handed to the transport).</summary>
    public long QueuedSendBytes => _sendQueue.QueuedBytes;

    /// <summary>Starts the receive and send loops; false when the connection was closed before it started.</summary>
    internal bool TryStart()
    {
        if (Interlocked.CompareExchange(ref _state, (int)ConnectionState.Open, (int)ConnectionState.Created) != (int)ConnectionState.Created)
        {
            return false;
        }

        long now = _time.GetTimestamp();
        _lastReceiveTicks = now;
        _lastSendTicks = now;
        ParleyMetrics.ConnectionsOpened.Add(1);
        ParleyMetrics.ConnectionsActive.Add(1);

        // Room in the pool for this connection's receive segment (withdrawn in FinalizeClose).
        _pool.AdjustRetention(_options.ReadBufferSize, 1);
        Log.ConnectionOpened(_logger, Id, RemoteEndPoint);
        _receiveTask = ReceiveLoopAsync();
        _sendTask = SendLoopAsync();
        _liveness?.Add(this);
        return true;
    }

    /// <inheritdoc />
    public override string ToString() => $"#{Id} {RemoteEndPoint}";

    /// <summary>A timeout in the clock's timestamp units; infinite is <see cref="long.MaxValue"/>.</summary>
    private long ToTimestampUnits(TimeSpan timeout) =>
        timeout == Timeout.InfiniteTimeSpan ? long.MaxValue : (long)(timeout.TotalSeconds * _time.TimestampFrequency);
}
