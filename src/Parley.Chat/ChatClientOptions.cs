using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Parley.Chat;

/// <summary>How a <see cref="ChatClient"/> waits and how much it holds. The connection's own
/// settings (address, TLS, dialer, framer) are a <see cref="ParleyClientOptions"/>.</summary>
public sealed class ChatClientOptions
{
    /// <summary>
    /// How long a request waits for the server's answer: 30 s by default, far above a healthy
    /// server's answer time (a message is acknowledged once stored, within milliseconds), short
    /// enough that a hung server is noticed. A server that does not answer in time is treated as
    /// gone: the connection is aborted and every pending request fails (answers are matched to
    /// requests by their order, which a skipped answer would break).
    /// <see cref="Timeout.InfiniteTimeSpan"/> waits for ever.
    /// </summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Requests sent and not yet answered, at most: 256 by default, enough to pipeline sends at
    /// full speed. A request past it waits (cancellably) for an answer to free a place, so a
    /// caller that sends faster than the server stores holds bounded memory.
    /// </summary>
    public int MaxPendingRequests { get; set; } = 256;

    /// <summary>
    /// The longest message content, in UTF-8 bytes, the client sends: a longer one is refused
    /// here with <see cref="ArgumentException"/>. Default 4096, the server's default
    /// (<c>parley serve --max-message-bytes</c>); set it to the server's value. Without it, a
    /// message longer than the server's whole command line would make the server close the
    /// connection — failing every request in flight — instead of refusing one message.
    /// </summary>
    public int MaxMessageBytes { get; set; } = 4096;

    /// <summary>The clock of <see cref="RequestTimeout"/> (tests move it by hand). Default: the system's.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Where the client logs a server that broke the protocol or an event handler that threw. Default: nowhere.</summary>
    public ILoggerFactory LoggerFactory { get; set; } = NullLoggerFactory.Instance;

    /// <summary>Checks the values.</summary>
    /// <exception cref="ArgumentException">A value is out of range.</exception>
    public void Validate()
    {
        if (RequestTimeout != Timeout.InfiniteTimeSpan)
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(RequestTimeout, TimeSpan.Zero, nameof(RequestTimeout));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPendingRequests, 1, nameof(MaxPendingRequests));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxMessageBytes, 1, nameof(MaxMessageBytes));
        ArgumentNullException.ThrowIfNull(TimeProvider);
        ArgumentNullException.ThrowIfNull(LoggerFactory);
    }
}
