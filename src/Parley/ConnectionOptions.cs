using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Parley;

/// <summary>
/// Settings shared by server-accepted and client connections: framing, buffers, send queue,
/// liveness. Read when a server starts or a client connects; later changes have no effect.
/// </summary>
public class ConnectionOptions
{
    /// <summary>How bytes become messages. Default: <see cref="LengthPrefixedFramer.Default"/>
    /// (u32 little-endian length + payload, 1 MiB limit, Miku-compatible).</summary>
    public MessageFramer Framer { get; set; } = LengthPrefixedFramer.Default;

    /// <summary>Where receive segments and outbound frames are rented. Default:
    /// <see cref="BufferPool.Shared"/>. Tests pass their own to prove every buffer comes back.</summary>
    public BufferPool BufferPool { get; set; } = BufferPool.Shared;

    /// <summary>Size of one receive buffer segment, rented only once data is waiting.
    /// Default 8 KiB: one segment holds dozens of small messages, and an idle connection
    /// holds none.</summary>
    public int ReadBufferSize { get; set; } = 8 * 1024;

    /// <summary>
    /// Bytes the send queue may hold before the peer counts as a slow consumer. Default 4 MiB:
    /// room for four messages of the default maximum size, and at the broadcast workload's
    /// 100-byte messages about forty thousand messages behind. A single frame larger than this
    /// is still accepted into an empty queue.
    /// </summary>
    public long MaxSendQueueBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>What to do when the send queue is full. Default <see cref="SlowConsumerPolicy.Disconnect"/>.</summary>
    public SlowConsumerPolicy SlowConsumerPolicy { get; set; } = SlowConsumerPolicy.Disconnect;

    /// <summary>
    /// Send the framer's keep-alive frame after this long without sending anything. Default
    /// 10 s, a third of <see cref="IdleTimeout"/>, so two keep-alives may be lost before the
    /// peer gives up. Framers without a keep-alive frame send nothing.
    /// <see cref="Timeout.InfiniteTimeSpan"/> sends none (for peers such as people on a text
    /// protocol, who should not see keep-alives; pair it with <see cref="TcpKeepAlive"/>).
    /// </summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Close a connection from which nothing (not even a keep-alive) arrived for this long:
    /// the peer vanished without a FIN or hung. Default 30 s.
    /// <see cref="Timeout.InfiniteTimeSpan"/> turns it off (then use <see cref="TcpKeepAlive"/>).
    /// </summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Close a connection whose peer began a message (a frame header, part of a line) and did
    /// not finish it within this long, unless the message keeps arriving at
    /// <see cref="MinMessageDataRate"/>: a peer that trickles bytes (slow-loris) or stalls
    /// mid-message holds a connection slot and the buffered bytes only this long. Default 30 s,
    /// as Kestrel's request-headers timeout. <see cref="Timeout.InfiniteTimeSpan"/> turns it off.
    /// The clock runs only while the receiver waits for the peer: it starts when a read leaves
    /// part of a message, restarts with each message completed, and stops while the application
    /// is handling what was read (a busy reader is never the peer's fault).
    /// </summary>
    public TimeSpan IncompleteMessageTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Bytes a second that keep an unfinished message alive past
    /// <see cref="IncompleteMessageTimeout"/>: each time the peer has sent a timeout's worth at
    /// this rate, the clock restarts. Default 240 (Kestrel's minimum request body rate): a 1 MiB
    /// message may take over an hour on a poor link; a byte a second is closed after 30 s.
    /// 0 makes the timeout a hard deadline for every message.
    /// </summary>
    public double MinMessageDataRate { get; set; } = 240;

    /// <summary>The clock of keep-alives, the idle timeout and the incomplete-message timeout.
    /// Default <see cref="TimeProvider.System"/>; tests pass a clock they move by hand.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Enable the operating system's TCP keep-alive probes as well. Default off:
    /// application keep-alives detect a dead peer faster and through proxies.</summary>
    public bool TcpKeepAlive { get; set; }

    /// <summary>Idle time before the first TCP keep-alive probe, when <see cref="TcpKeepAlive"/> is on. Default 30 s.</summary>
    public TimeSpan TcpKeepAliveTime { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Time between TCP keep-alive probes. Default 5 s.</summary>
    public TimeSpan TcpKeepAliveInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Unanswered probes before the OS drops the connection. Default 3.</summary>
    public int TcpKeepAliveRetryCount { get; set; } = 3;

    /// <summary>Disable Nagle's algorithm. Default <see langword="true"/>: Parley merges queued
    /// frames into one write itself, so Nagle would only add latency.</summary>
    public bool NoDelay { get; set; } = true;

    /// <summary>How long a graceful close waits for queued frames to be written before it
    /// aborts. Default 5 s.</summary>
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Logging. Default: no logging.</summary>
    public ILoggerFactory LoggerFactory { get; set; } = NullLoggerFactory.Instance;

    /// <summary>
    /// Message transforms (compression, …): outgoing payloads pass through them in order before
    /// framing, incoming ones in reverse after parsing. Both ends must use the same list. Default
    /// none. A broadcast runs them once for all recipients.
    /// </summary>
    public IReadOnlyList<MessageMiddleware> Middleware { get; set; } = [];

    /// <summary>Checks every value; throws <see cref="ArgumentException"/> naming the bad one.</summary>
    public virtual void Validate()
    {
        ArgumentNullException.ThrowIfNull(Framer);
        ArgumentNullException.ThrowIfNull(BufferPool);
        ArgumentNullException.ThrowIfNull(LoggerFactory);
        ArgumentNullException.ThrowIfNull(Middleware);
        ArgumentNullException.ThrowIfNull(TimeProvider);
        ArgumentOutOfRangeException.ThrowIfLessThan(ReadBufferSize, 256, nameof(ReadBufferSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxSendQueueBytes, 1024, nameof(MaxSendQueueBytes));
        if (KeepAliveInterval != Timeout.InfiniteTimeSpan)
        {
            RequirePositive(KeepAliveInterval, nameof(KeepAliveInterval));
        }

        if (IdleTimeout != Timeout.InfiniteTimeSpan)
        {
            RequirePositive(IdleTimeout, nameof(IdleTimeout));
        }

        if (IncompleteMessageTimeout != Timeout.InfiniteTimeSpan)
        {
            RequirePositive(IncompleteMessageTimeout, nameof(IncompleteMessageTimeout));
        }

        if (!(MinMessageDataRate >= 0 && double.IsFinite(MinMessageDataRate)))
        {
            throw new ArgumentOutOfRangeException(nameof(MinMessageDataRate), MinMessageDataRate, "MinMessageDataRate must be 0 or more.");
        }

        RequirePositive(CloseTimeout, nameof(CloseTimeout));
        RequirePositive(TcpKeepAliveTime, nameof(TcpKeepAliveTime));
        RequirePositive(TcpKeepAliveInterval, nameof(TcpKeepAliveInterval));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(TcpKeepAliveRetryCount, nameof(TcpKeepAliveRetryCount));
    }

    private protected static void RequirePositive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive.");
        }
    }
}
