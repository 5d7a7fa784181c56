using System.Runtime.CompilerServices;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Parley.Chat.Nats;

/// <summary>Reads a cluster's stream from outside a node (<c>parley journal dump --cluster</c>): every stored message, oldest first.</summary>
public static class NatsStreamReader
{
    /// <summary>
    /// The stream's messages from sequence <paramref name="from"/> up to its newest when called:
    /// (sequence, stored time, the record as <see cref="ChatRecord"/> encodes it).
    /// </summary>
    /// <exception cref="ChatBackplaneUnavailableException">NATS cannot be reached, or it has no such stream.</exception>
    public static async IAsyncEnumerable<(long Id, DateTimeOffset Timestamp, byte[] Record)> ReadAsync(
        string url, string stream, string subjectPrefix, long from, string? credentialsFile, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string shown = NatsChatBackplaneOptions.Redact(url);
        await using var nats = new NatsConnection(new NatsOpts
        {
            Url = url,
            Name = "parley journal dump",
            MaxReconnectRetry = 0,
            AuthOpts = credentialsFile is null ? NatsAuthOpts.Default : new NatsAuthOpts { CredsFile = credentialsFile },
        });
        var js = new NatsJSContext(nats);
        INatsJSConsumer consumer;
        ulong last;
        try
        {
            using var connecting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            connecting.CancelAfter(TimeSpan.FromSeconds(5));
            await nats.ConnectAsync().AsTask().WaitAsync(connecting.Token).ConfigureAwait(false);
            INatsJSStream info = await js.GetStreamAsync(stream, cancellationToken: connecting.Token).ConfigureAwait(false);
            last = info.Info.State.LastSeq;
            if (last == 0 || (ulong)from > last)
            {
                yield break;
            }

            consumer = await js.CreateOrderedConsumerAsync(stream, new NatsJSOrderedConsumerOpts
            {
                FilterSubjects = [$"{subjectPrefix}.room.>"],
                DeliverPolicy = ConsumerConfigDeliverPolicy.ByStartSequence,
                OptStartSeq = (ulong)Math.Max(1, from),
            }, connecting.Token).ConfigureAwait(false);
        }
        catch (NatsJSApiException ex) when (ex.Error.Code == 404)
        {
            throw new ChatBackplaneUnavailableException($"NATS at {shown} has no stream {stream}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ChatBackplaneUnavailableException($"NATS at {shown} did not answer");
        }
        catch (NatsException ex)
        {
            throw new ChatBackplaneUnavailableException($"cannot use NATS at {shown}: {ex.Message}", ex);
        }

        await foreach (INatsJSMsg<byte[]> msg in consumer.ConsumeAsync<byte[]>(cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            if (msg.Metadata is not { } metadata)
            {
                continue;
            }

            yield return ((long)metadata.Sequence.Stream, metadata.Timestamp, msg.Data ?? []);
            if (metadata.Sequence.Stream >= last || metadata.NumPending == 0)
            {
                yield break;
            }
        }
    }
}
