using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Parley.Chat.Nats;

/// <summary>
/// A chat cluster's backplane on NATS JetStream (docs/scale-out.md). Every room's messages go to
/// one stream (subject <c>PREFIX.room.ROOM</c>); the stream's sequence is a message's id on every
/// node. Each node reads the whole stream with an ordered consumer — one order for all nodes, and
/// after a lost connection it resumes after the last sequence it handed over. Presence travels on
/// core NATS: each node announces its users' entries and exits with a version number and
/// heartbeats; a node that misses one asks the other for its whole list; a node silent past
/// <see cref="NatsChatBackplaneOptions.NodeTimeout"/> is gone with its users.
/// </summary>
public sealed partial class NatsChatBackplane : IChatBackplane
{
    private readonly NatsChatBackplaneOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly NatsConnection _nats;
    private readonly NatsJSContext _js;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, string> _roomSubjects = new(StringComparer.Ordinal);
    private readonly string _instance;
    private IChatBackplaneHost? _host;
    private INatsJSStream? _stream;
    private Task _consuming = Task.CompletedTask;
    private TaskCompletionSource? _caughtUp;
    private ulong _catchUpTo;
    private long _delivered;
    private long _pending;
    private long _firstRetained = 1;
    private long _lastSequence;
    private int _disposed;
    private DateTimeOffset _streamCreated;
    private volatile bool _replaced; // the stream was deleted and created again: its sequences are not this node's ids

    /// <summary>A backplane with these settings; <see cref="StartAsync"/> connects.</summary>
    public NatsChatBackplane(NatsChatBackplaneOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _logger = options.LoggerFactory.CreateLogger<NatsChatBackplane>();
        _time = options.TimeProvider;
        _peerLog = new LogRateLimiter(options.TimeProvider);
        _instance = $"{options.NodeName}-{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4))}";
        _nats = new NatsConnection(new NatsOpts
        {
            Url = options.Url,
            Name = $"parley {_instance}",
            LoggerFactory = options.LoggerFactory,
            MaxReconnectRetry = -1,
            ReconnectWaitMin = TimeSpan.FromMilliseconds(250),
            ReconnectWaitMax = TimeSpan.FromSeconds(2),
            RequestTimeout = options.PublishTimeout,
            CommandTimeout = options.PublishTimeout, // how long a publish may wait to get into the connection's buffer…
            PublishTimeoutOnDisconnected = true,     // …also while the connection is down (else it waits for the reconnect)
            // Every subscription of the node is read by a loop of its own that never waits on NATS:
            // one that falls behind holds the connection's reads back instead of losing messages
            // (NATS.Net's default drops the newest). Dropped stream messages made the ordered consumer
            // start over at every gap during a catch-up; a dropped acknowledgement would refuse a
            // stored message; a dropped presence delta costs a snapshot.
            SubPendingChannelFullMode = System.Threading.Channels.BoundedChannelFullMode.Wait,
            AuthOpts = options.CredentialsFile is { } creds ? new NatsAuthOpts { CredsFile = creds } : NatsAuthOpts.Default,
        });
        _js = new NatsJSContext(_nats);
        NatsClusterMetrics.Attach(this);
    }

    /// <inheritdoc/>
    public string NodeName => _options.NodeName;

    /// <summary>This run of the node: its name and a random suffix (a restarted node is a new instance).</summary>
    public string Instance => _instance;

    /// <inheritdoc/>
    public long FirstRetainedId => Interlocked.Read(ref _firstRetained);

    /// <summary>The last sequence this node handed over (delivered to its members).</summary>
    public long DeliveredSequence => Interlocked.Read(ref _delivered);

    /// <summary>Messages the stream holds past <see cref="DeliveredSequence"/>, as the consumer last reported: this node's lag.</summary>
    public long Lag => Interlocked.Read(ref _pending);

    /// <summary>The stream was deleted and created again since this node started: its sequences are no longer this node's ids, so it refuses sends until restarted.</summary>
    public bool StreamReplaced => _replaced;

    /// <summary>Whether the connection to NATS is up now.</summary>
    public bool Connected => _nats.ConnectionState == NatsConnectionState.Open;

    internal string RoomSubjectPrefix => $"{_options.SubjectPrefix}.room.";

    /// <inheritdoc/>
    public async Task StartAsync(IChatBackplaneHost host, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (_host is not null)
        {
            throw new InvalidOperationException("The backplane is started already.");
        }

        _host = host;
        using var connecting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token);
        connecting.CancelAfter(_options.ConnectTimeout);
        try
        {
            await _nats.ConnectAsync().AsTask().WaitAsync(connecting.Token).ConfigureAwait(false);
            _stream = await EnsureStreamAsync(connecting.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ChatBackplaneUnavailableException($"NATS at {_options.DisplayUrl} did not answer within {_options.ConnectTimeout.TotalSeconds:0.#} s (is nats-server running, with JetStream: -js?)");
        }
        catch (NatsException ex)
        {
            throw new ChatBackplaneUnavailableException($"cannot use NATS at {_options.DisplayUrl}: {ex.Message} (is nats-server running, with JetStream: -js?)", ex);
        }

        StreamState state = _stream.Info.State;
        _streamCreated = _stream.Info.Created;
        Interlocked.Exchange(ref _firstRetained, (long)Math.Max(1, state.FirstSeq));
        Interlocked.Exchange(ref _lastSequence, (long)state.LastSeq);
        _catchUpTo = state.LastSeq;
        _caughtUp = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (state.Messages == 0)
        {
            _caughtUp.TrySetResult();
        }

        try
        {
            await StartPublishingAsync(connecting.Token).ConfigureAwait(false);
            await StartPresenceAsync(connecting.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ChatBackplaneUnavailableException($"NATS at {_options.DisplayUrl} did not answer within {_options.ConnectTimeout.TotalSeconds:0.#} s");
        }
        catch (NatsException ex)
        {
            throw new ChatBackplaneUnavailableException($"cannot use NATS at {_options.DisplayUrl}: {ex.Message}", ex);
        }

        _consuming = Task.Run(ConsumeAsync, CancellationToken.None);
        Log.Started(_logger, _instance, _options.DisplayUrl, _options.StreamName, state.Messages, state.FirstSeq, state.LastSeq);
        await _caughtUp.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<INatsJSStream> EnsureStreamAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await _js.GetStreamAsync(_options.StreamName, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (NatsJSApiException ex) when (ex.Error.Code == 404)
        {
            // Missing: this node creates it (another may at the same moment: then take theirs).
        }

        var config = new StreamConfig(_options.StreamName, [$"{_options.SubjectPrefix}.room.>"])
        {
            Storage = StreamConfigStorage.File,
            NumReplicas = _options.Replicas,
            MaxBytes = _options.MaxStreamBytes,
            Discard = StreamConfigDiscard.Old,
            AllowDirect = true,
        };
        try
        {
            INatsJSStream created = await _js.CreateStreamAsync(config, cancellationToken).ConfigureAwait(false);
            Log.StreamCreated(_logger, _options.StreamName, _options.Replicas, _options.MaxStreamBytes);
            return created;
        }
        catch (NatsJSApiException ex) when (ex.Error.ErrCode == 10058) // stream name already in use
        {
            return await _js.GetStreamAsync(_options.StreamName, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Reads the stream in order for as long as the node runs. The ordered consumer resumes by
    /// itself after a lost connection; when it gives up (or the stream was replaced), a new one
    /// starts after the last sequence handed over. Sequences at or below it are never handed over twice.
    /// </summary>
    private async Task ConsumeAsync()
    {
        CancellationToken stop = _stop.Token;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                long after = Interlocked.Read(ref _delivered);
                INatsJSConsumer consumer = await _js.CreateOrderedConsumerAsync(_options.StreamName, new NatsJSOrderedConsumerOpts
                {
                    FilterSubjects = [$"{_options.SubjectPrefix}.room.>"],
                    DeliverPolicy = after == 0 ? ConsumerConfigDeliverPolicy.All : ConsumerConfigDeliverPolicy.ByStartSequence,
                    OptStartSeq = after == 0 ? 0 : (ulong)after + 1,
                }, stop).ConfigureAwait(false);

                await foreach (INatsJSMsg<NatsMemoryOwner<byte>> msg in consumer.ConsumeAsync<NatsMemoryOwner<byte>>(cancellationToken: stop).ConfigureAwait(false))
                {
                    using NatsMemoryOwner<byte> data = msg.Data;
                    if (msg.Metadata is not { } metadata)
                    {
                        continue;
                    }

                    Hand(metadata, msg.Subject, data.Memory.Span);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                Log.ConsumerFailed(_logger, _instance, Interlocked.Read(ref _delivered), ex.Message);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), _time, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
    }

    private void Hand(NatsJSMsgMetadata metadata, string subject, ReadOnlySpan<byte> record)
    {
        long sequence = (long)metadata.Sequence.Stream;
        Interlocked.Exchange(ref _pending, (long)metadata.NumPending);
        if (_replaced)
        {
            return; // a new stream's sequences would repeat ids this node has handed over already
        }

        if (sequence <= Interlocked.Read(ref _delivered))
        {
            NatsClusterMetrics.Redeliveries.Add(1); // a resumed consumer's overlap: handed over already
            return;
        }

        if (metadata.NumDelivered > 1)
        {
            NatsClusterMetrics.Redeliveries.Add(1);
        }

        try
        {
            if (RecordMatchesSubject(record, subject))
            {
                _host!.OnMessage(sequence, metadata.Timestamp, record);
            }
            else
            {
                // Written by something other than a node (a node publishes a room's record on its subject only).
                Log.WrongSubject(_logger, sequence, subject);
            }
        }
        catch (Exception ex)
        {
            // The host's fault, not the stream's: the next message must still come.
            Log.HostFailed(_logger, sequence, ex);
        }

        Interlocked.Exchange(ref _delivered, sequence);
        InterlockedMax(ref _lastSequence, sequence);

        if ((ulong)sequence >= _catchUpTo || metadata.NumPending == 0)
        {
            _caughtUp?.TrySetResult(); // (nothing left: the last message the stream had may have been deleted since)
        }
    }

    private void MarkReplaced()
    {
        _replaced = true;
        Log.StreamReplaced(_logger, _options.StreamName);
        try
        {
            _host?.OnDeliveryStopped($"the stream {_options.StreamName} was replaced");
        }
        catch (Exception ex)
        {
            Log.HostFailed(_logger, 0, ex);
        }
    }

    /// <summary>Raises <paramref name="location"/> to <paramref name="value"/> unless it is higher already (the consumer and the refresh both move it).</summary>
    private static void InterlockedMax(ref long location, long value)
    {
        long current = Interlocked.Read(ref location);
        while (value > current)
        {
            long seen = Interlocked.CompareExchange(ref location, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    /// <summary>Whether a record's room is the one its subject names (records too short to say are left to the host, which skips them).</summary>
    internal bool RecordMatchesSubject(ReadOnlySpan<byte> record, string subject)
    {
        if (record.Length < 2 || record.Length < 2 + record[1])
        {
            return true;
        }

        ReadOnlySpan<byte> room = record.Slice(2, record[1]);
        ReadOnlySpan<char> token = subject.AsSpan().StartsWith(RoomSubjectPrefix, StringComparison.Ordinal) ? subject.AsSpan(RoomSubjectPrefix.Length) : [];
        if (token.Length > 0 && token[0] == '~')
        {
            // The one spelling SubjectToken gives: lower-case hex of the name's bytes, for a name
            // that needs it (without allocating: this runs for every message of such a room).
            ReadOnlySpan<char> hex = token[1..];
            if (hex.Length != room.Length * 2 || room.IndexOfAnyExcept(PlainSubjectBytes) < 0)
            {
                return false;
            }

            for (int i = 0; i < room.Length; i++)
            {
                if (hex[2 * i] != LowerHex[room[i] >> 4] || hex[(2 * i) + 1] != LowerHex[room[i] & 0xF])
                {
                    return false;
                }
            }

            return true;
        }

        if (token.Length != room.Length || room.IndexOfAnyExcept(PlainSubjectBytes) >= 0)
        {
            return false; // (a name with other bytes is published under its ~hex spelling only)
        }

        for (int i = 0; i < room.Length; i++)
        {
            if (room[i] != token[i])
            {
                return false;
            }
        }

        return true;
    }

    /// <inheritdoc/>
    public async ValueTask<Task<long>> PublishAsync(string room, ReadOnlyMemory<byte> record, CancellationToken cancellationToken)
    {
        if (_nats.ConnectionState != NatsConnectionState.Open)
        {
            NatsClusterMetrics.PublishFailures.Add(1);
            throw new ChatBackplaneUnavailableException($"not connected to NATS at {_options.DisplayUrl}");
        }

        if (_replaced)
        {
            NatsClusterMetrics.PublishFailures.Add(1);
            throw new ChatBackplaneUnavailableException($"the stream {_options.StreamName} was deleted and created again; this node must be restarted to read it anew");
        }

        string subject = _roomSubjects.GetOrAdd(room, static (name, prefix) => prefix + SubjectToken(name), RoomSubjectPrefix);
        return await PublishToStreamAsync(subject, record, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async Task ReadAsync(IReadOnlyList<long> ids, ChatStoredMessageReader reader, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(reader);
        INatsJSStream stream = _stream ?? throw new InvalidOperationException("The backplane is not started.");
        if (_nats.ConnectionState != NatsConnectionState.Open)
        {
            throw new ChatBackplaneUnavailableException($"not connected to NATS at {_options.DisplayUrl}");
        }

        // Asked for side by side (a page is at most a few hundred), handed over in order.
        var reads = new Task<StreamMsgGetResponse?>[ids.Count];
        for (int i = 0; i < reads.Length; i++)
        {
            reads[i] = GetAsync(stream, ids[i], cancellationToken);
        }

        for (int i = 0; i < reads.Length; i++)
        {
            StreamMsgGetResponse? response;
            try
            {
                response = await reads[i].ConfigureAwait(false);
            }
            catch (NatsException ex)
            {
                throw new ChatBackplaneUnavailableException($"cannot read history from JetStream: {ex.Message}", ex);
            }

            if (response?.Message is { } message)
            {
                reader((long)message.Seq, message.Time, message.Data.Span);
            }
        }
    }

    private static async Task<StreamMsgGetResponse?> GetAsync(INatsJSStream stream, long id, CancellationToken cancellationToken)
    {
        try
        {
            return await stream.GetAsync(new StreamMsgGetRequest { Seq = (ulong)id }, cancellationToken).ConfigureAwait(false);
        }
        catch (NatsJSApiException ex) when (ex.Error.Code == 404)
        {
            return null; // deleted by retention meanwhile
        }
    }

    /// <summary>Refreshes what the stream keeps (its first and last sequence).</summary>
    private async Task RefreshStreamAsync(CancellationToken cancellationToken)
    {
        if (_stream is null || _nats.ConnectionState != NatsConnectionState.Open)
        {
            return;
        }

        try
        {
            // Read before asking: what was delivered by then was stored by then, so a stream that
            // ends below it started over (delivered later could be past the answer's last sequence).
            long delivered = Interlocked.Read(ref _delivered);
            await _stream.RefreshAsync(cancellationToken).ConfigureAwait(false);
            StreamState state = _stream.Info.State;
            if (!_replaced && (_stream.Info.Created != _streamCreated || (long)state.LastSeq < delivered))
            {
                MarkReplaced();
            }

            Interlocked.Exchange(ref _firstRetained, (long)Math.Max(1, state.FirstSeq));
            InterlockedMax(ref _lastSequence, (long)state.LastSeq);
        }
        catch (NatsException ex)
        {
            Log.RefreshFailed(_logger, ex.Message);
        }
    }

    private const string LowerHex = "0123456789abcdef";

    /// <summary>The bytes a room name may hold and still be its own subject token.</summary>
    private static readonly System.Buffers.SearchValues<byte> PlainSubjectBytes =
        System.Buffers.SearchValues.Create("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"u8);

    /// <summary>
    /// A room name as one subject token: names of letters, digits, <c>-</c> and <c>_</c> as they are;
    /// any other as <c>~</c> and the hex of its UTF-8 (no collision: <c>~</c> is not in the first set).
    /// </summary>
    internal static string SubjectToken(string room)
    {
        foreach (char c in room)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            {
                return "~" + Convert.ToHexStringLower(Encoding.UTF8.GetBytes(room));
            }
        }

        return room;
    }

    /// <summary>
    /// For tests: the node stops as a SIGKILLed process would — no goodbye, its heartbeats stop,
    /// its connection drops — so the others must notice by the deadline alone.
    /// </summary>
    internal async Task CrashForTestsAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _beats.CancelAsync().ConfigureAwait(false);
        await _stop.CancelAsync().ConfigureAwait(false);
        await _nats.DisposeAsync().ConfigureAwait(false);
        await StopPublishingAsync().ConfigureAwait(false);
        NatsClusterMetrics.Detach(this);
    }

    /// <summary>Says goodbye (the other nodes drop this node's users at once), stops reading and closes the connection.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await StopPresenceAsync().ConfigureAwait(false);
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _consuming.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        await StopPublishingAsync().ConfigureAwait(false);
        await _nats.DisposeAsync().ConfigureAwait(false);
        NatsClusterMetrics.Detach(this);
        _stop.Dispose();
        _beats.Dispose();
    }
}
