using System.Globalization;
using System.Text.Json;
using NATS.Client.Core;

namespace Parley.Chat.Nats;

/// <summary>
/// Publishing to JetStream as the Go client's asynchronous publish does: one reply subscription
/// for the node (<c>_INBOX.…​.*</c>), the reply subject of each publish ending in its own number,
/// and each acknowledgement matched to its publish by that number. NATS.Net's
/// <c>PublishConcurrentAsync</c> made a reply subscription, a channel, a timer and a header
/// dictionary for every message; this costs a reply-subject string, a dictionary slot and a task
/// per publish (and NATS.Net's subject string per answer), and one timer for all
/// (docs/benchmarks.md, "Session 17").
/// </summary>
public sealed partial class NatsChatBackplane
{
    private readonly Lock _acksLock = new();
    private readonly Dictionary<long, PendingPublish> _acks = [];
    private string _inbox = "";
    private long _publishes;
    private INatsSub<NatsMemoryOwner<byte>>? _ackSub;
    private Task _ackReading = Task.CompletedTask;
    private ITimer? _ackSweeper;
    private volatile bool _acksStopped;

    /// <summary>Publishes waiting for JetStream's acknowledgement (for tests and status).</summary>
    internal int PendingPublishes
    {
        get
        {
            lock (_acksLock)
            {
                return _acks.Count;
            }
        }
    }

    private async Task StartPublishingAsync(CancellationToken cancellationToken)
    {
        // Under _INBOX (where NATS permissions usually let clients receive replies) but not under the
        // connection's own inbox prefix: NATS.Net keeps that for its requests and matches it exactly.
        _inbox = $"{_nats.Opts.InboxPrefix}.parley{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(12))}.";
        // NATS.Net ends a subscription when the token it was made with is cancelled: the start's
        // deadline (which runs on through the catch-up) bounds only the asking.
        _ackSub = await _nats.SubscribeCoreAsync<NatsMemoryOwner<byte>>(_inbox + "*", cancellationToken: CancellationToken.None).AsTask().WaitAsync(cancellationToken).ConfigureAwait(false);
        _ackReading = Task.Run(ReadAcksAsync, CancellationToken.None);
        TimeSpan every = TimeSpan.FromTicks(Math.Clamp(_options.PublishTimeout.Ticks / 5, TimeSpan.TicksPerMillisecond * 50, TimeSpan.TicksPerSecond));
        _ackSweeper = _time.CreateTimer(static state => ((NatsChatBackplane)state!).ExpireAcks(), this, every, every);
    }

    /// <summary>Sends <paramref name="record"/> to <paramref name="subject"/>; the task gives JetStream's sequence for it once stored.</summary>
    private async ValueTask<Task<long>> PublishToStreamAsync(string subject, ReadOnlyMemory<byte> record, CancellationToken cancellationToken)
    {
        long number = Interlocked.Increment(ref _publishes);
        if (_acksStopped)
        {
            NatsClusterMetrics.PublishFailures.Add(1);
            throw new ChatBackplaneUnavailableException("JetStream's confirmations cannot be received (the node's reply subscription ended)");
        }

        var pending = new PendingPublish(Interlocked.Read(ref _lastSequence)); // the stream only grows: a new message's sequence is past it
        lock (_acksLock)
        {
            _acks.Add(number, pending); // before the publish: its ack may come before PublishAsync returns
        }

        if (_stop.IsCancellationRequested)
        {
            Forget(number); // stopping: nothing would read its answer
            NatsClusterMetrics.PublishFailures.Add(1);
            throw new ChatBackplaneUnavailableException("the node is stopping");
        }

        string replyTo = string.Create(CultureInfo.InvariantCulture, $"{_inbox}{number}");
        try
        {
            // Returns once the message is in the connection's buffer, after any earlier one: a session's sends keep their order.
            await _nats.PublishAsync(subject, record, replyTo: replyTo, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            if (!Forget(number))
            {
                _ = pending.Task.Exception; // refused meanwhile (expired, or stopping): that refusal is not the caller's to see
            }

            NatsClusterMetrics.PublishFailures.Add(1);
            if (ex is OperationCanceledException && cancellationToken.IsCancellationRequested)
            {
                throw;
            }

            // NATS.Net times out only before the message is in its buffer: that one was never sent.
            ChatBackplaneUnavailableException? refusal = ex switch
            {
                NatsTimeoutException => new ChatBackplaneUnavailableException($"the message could not be sent to NATS within {_options.PublishTimeout.TotalSeconds:0.#} s", ex),
                NatsPayloadTooLargeException => new ChatBackplaneUnavailableException($"the message could not be sent to NATS: {ex.Message}", ex),
                NatsException or ObjectDisposedException or OperationCanceledException => new ChatBackplaneUnavailableException($"the message could not be sent to NATS: {ex.Message}", ex) { MayBeStored = true },
                _ => null,
            };
            if (refusal is null)
            {
                throw;
            }

            throw refusal;
        }

        // The deadline counts from here: waiting for room in the connection's buffer is not JetStream's delay.
        pending.Stamp(_time.GetTimestamp());
        return pending.Task;
    }

    private bool Forget(long number)
    {
        lock (_acksLock)
        {
            return _acks.Remove(number);
        }
    }

    private PendingPublish? Take(long number)
    {
        lock (_acksLock)
        {
            return _acks.Remove(number, out PendingPublish? pending) ? pending : null;
        }
    }

    /// <summary>JetStream's answers, matched to their publishes by the number the reply subject ends in.</summary>
    private async Task ReadAcksAsync()
    {
        CancellationToken stop = _stop.Token;
        string reason = "the subscription ended";
        try
        {
            await foreach (NatsMsg<NatsMemoryOwner<byte>> msg in _ackSub!.Msgs.ReadAllAsync(stop).ConfigureAwait(false))
            {
                using NatsMemoryOwner<byte> data = msg.Data;
                if (!long.TryParse(msg.Subject.AsSpan(Math.Min(_inbox.Length, msg.Subject.Length)), NumberStyles.None, CultureInfo.InvariantCulture, out long number)
                    || Take(number) is not { } pending)
                {
                    continue; // not one of ours, or answered late (refused by then): nothing waits for it
                }

                if (msg.HasNoResponders)
                {
                    // Nothing stored it: JetStream is off, or no stream takes the subject.
                    Fail(pending, new ChatBackplaneUnavailableException($"JetStream did not store the message: nothing answers for the stream {_options.StreamName} (is JetStream enabled?)"));
                    continue;
                }

                Complete(pending, data.Memory.Span);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is NatsException or ObjectDisposedException or InvalidOperationException or System.Threading.Channels.ChannelClosedException)
        {
            reason = ex.Message;
        }
        finally
        {
            if (!stop.IsCancellationRequested)
            {
                // Not stopping, yet no answer can arrive any more: refuse sends from now on rather
                // than store them and call every one "may still be stored".
                _acksStopped = true;
                Log.AcksStopped(_logger, _instance, reason);
            }

            FailAllAcks(stop.IsCancellationRequested ? "the node is stopping" : "the node's reply subscription ended"); // no one is left to read them
        }
    }

    private void Complete(PendingPublish pending, ReadOnlySpan<byte> answer)
    {
        if (!PubAck.TryParse(answer, out PubAck ack))
        {
            Fail(pending, new ChatBackplaneUnavailableException("JetStream's answer could not be read") { MayBeStored = true });
            return;
        }

        if (ack.Error is { } error)
        {
            // A reply that says no is certain.
            Fail(pending, new ChatBackplaneUnavailableException($"JetStream did not store the message: {error}"));
            return;
        }

        if (!ack.StreamIs(_options.StreamName))
        {
            // Another stream took the subject too: its sequence is not this cluster's id.
            Fail(pending, new ChatBackplaneUnavailableException($"the message was stored by another stream than {_options.StreamName}: check the streams' subjects") { MayBeStored = true });
            return;
        }

        if (pending.Started is long started and not 0)
        {
            NatsClusterMetrics.PublishDuration.Record(_time.GetElapsedTime(started).TotalSeconds);
        }
        if ((long)ack.Sequence <= pending.Newest && !ack.Duplicate)
        {
            // A sequence this node has seen before: the stream started over under it.
            if (!_replaced)
            {
                MarkReplaced();
            }

            Fail(pending, new ChatBackplaneUnavailableException($"the stream {_options.StreamName} was deleted and created again; this node must be restarted to read it anew") { MayBeStored = true });
            return;
        }

        pending.TrySetResult((long)ack.Sequence);
    }

    private static void Fail(PendingPublish pending, ChatBackplaneUnavailableException exception)
    {
        NatsClusterMetrics.PublishFailures.Add(1);
        pending.TrySetException(exception);
    }

    /// <summary>Refuses the publishes JetStream has not answered within the publish timeout (NATS went away under them, or is slow): they may still be stored.</summary>
    private void ExpireAcks()
    {
        List<PendingPublish>? expired = null;
        long now = _time.GetTimestamp();
        lock (_acksLock)
        {
            foreach ((long number, PendingPublish pending) in _acks)
            {
                if (pending.Started != 0 && _time.GetElapsedTime(pending.Started, now) >= _options.PublishTimeout)
                {
                    (expired ??= []).Add(pending);
                    _acks.Remove(number); // allowed while enumerating a Dictionary since .NET Core 3.0
                }
            }
        }

        if (expired is null)
        {
            return;
        }

        foreach (PendingPublish pending in expired)
        {
            Fail(pending, new ChatBackplaneUnavailableException($"JetStream did not confirm within {_options.PublishTimeout.TotalSeconds:0.#} s") { MayBeStored = true });
        }
    }

    private void FailAllAcks(string reason)
    {
        PendingPublish[] left;
        lock (_acksLock)
        {
            left = [.. _acks.Values];
            _acks.Clear();
        }

        foreach (PendingPublish pending in left)
        {
            Fail(pending, new ChatBackplaneUnavailableException($"JetStream's confirmation will not come: {reason}") { MayBeStored = true });
        }
    }

    private async Task StopPublishingAsync()
    {
        if (_ackSweeper is { } sweeper)
        {
            await sweeper.DisposeAsync().ConfigureAwait(false);
        }

        try
        {
            await _ackReading.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        FailAllAcks("the node is stopping");
    }

    /// <summary>One publish waiting for its acknowledgement: when it left, and the newest sequence known then.</summary>
    private sealed class PendingPublish(long newest) : TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        private long _started;

        /// <summary>When the message was in the connection's buffer; 0 until then (not yet expiring).</summary>
        public long Started => Volatile.Read(ref _started);

        public long Newest { get; } = newest;

        public void Stamp(long timestamp) => Volatile.Write(ref _started, Math.Max(1, timestamp));
    }
}

/// <summary>
/// JetStream's answer to a publish: <c>{"stream":"S","seq":N}</c>, with <c>"duplicate":true</c>
/// for a copy it dropped, or <c>{"error":{"code":C,"err_code":E,"description":"…"}}</c>. Read
/// without allocating unless it is an error.
/// </summary>
internal readonly record struct PubAck(ulong Sequence, bool Duplicate, string? Error, string? Stream = null)
{
    /// <summary>Whether the answer names <paramref name="stream"/> (an answer without a name is taken as the publish's own).</summary>
    public bool StreamIs(string stream) => Stream is null || Stream == stream;

    public static bool TryParse(ReadOnlySpan<byte> json, out PubAck ack)
    {
        ack = default;
        ulong sequence = 0;
        bool duplicate = false, sawSequence = false;
        string? error = null, stream = null;
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 4 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("seq"u8))
                {
                    if (!reader.Read() || reader.TokenType != JsonTokenType.Number || !reader.TryGetUInt64(out sequence))
                    {
                        return false;
                    }

                    sawSequence = true;
                }
                else if (reader.ValueTextEquals("duplicate"u8))
                {
                    if (!reader.Read() || reader.TokenType is not (JsonTokenType.True or JsonTokenType.False))
                    {
                        return false;
                    }

                    duplicate = reader.GetBoolean();
                }
                else if (reader.ValueTextEquals("stream"u8))
                {
                    if (!reader.Read() || reader.TokenType != JsonTokenType.String)
                    {
                        return false;
                    }

                    stream = reader.ValueTextEquals("PARLEY"u8) ? "PARLEY" : reader.GetString(); // the default name without a string per answer
                }
                else if (reader.ValueTextEquals("error"u8))
                {
                    if (!reader.Read())
                    {
                        return false;
                    }

                    if (reader.TokenType == JsonTokenType.StartObject)
                    {
                        error = ReadError(ref reader);
                    }
                    else if (reader.TokenType != JsonTokenType.Null || !reader.TrySkip())
                    {
                        return false; // "error": null is no error; anything else but an object is not an answer
                    }
                }
                else if (!reader.Read() || !reader.TrySkip())
                {
                    return false;
                }
            }

            if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
            {
                return false;
            }
        }
        catch (JsonException)
        {
            return false;
        }

        if (error is null && (!sawSequence || sequence == 0 || sequence > long.MaxValue))
        {
            return false; // sequences start at 1, and ids are signed 64-bit
        }

        ack = new PubAck(sequence, duplicate, error, stream);
        return true;
    }

    private static string ReadError(ref Utf8JsonReader reader)
    {
        string? description = null;
        long code = 0, errorCode = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            bool isDescription = reader.ValueTextEquals("description"u8);
            bool isCode = reader.ValueTextEquals("code"u8);
            bool isErrorCode = reader.ValueTextEquals("err_code"u8);
            if (!reader.Read())
            {
                break;
            }

            if (isDescription && reader.TokenType == JsonTokenType.String)
            {
                description = reader.GetString();
            }
            else if (isCode && reader.TokenType == JsonTokenType.Number)
            {
                reader.TryGetInt64(out code);
            }
            else if (isErrorCode && reader.TokenType == JsonTokenType.Number)
            {
                reader.TryGetInt64(out errorCode);
            }
            else
            {
                reader.TrySkip();
            }
        }

        string text = description is { Length: > 0 } ? (description.Length > 200 ? description[..200] : description) : "an error";
        return string.Create(CultureInfo.InvariantCulture, $"{text} (code {code}, error {errorCode})");
    }
}
