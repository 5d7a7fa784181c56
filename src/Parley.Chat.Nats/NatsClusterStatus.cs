using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Parley.Chat.Nats;

/// <summary>
/// A cluster as <c>parley cluster status</c> shows it: the stream's state (messages, bytes,
/// sequences, replicas and their lag), each room's message count, and the nodes heard from while
/// listening — their users, the last sequence each delivered and its lag behind the stream.
/// </summary>
/// <param name="Url">The NATS server(s) asked.</param>
/// <param name="Stream">The stream's name.</param>
/// <param name="Messages">Messages the stream holds.</param>
/// <param name="Bytes">Bytes the stream holds.</param>
/// <param name="FirstSequence">The oldest sequence kept.</param>
/// <param name="LastSequence">The newest sequence.</param>
/// <param name="Replicas">Copies kept of each message.</param>
/// <param name="Leader">The NATS server leading the stream (null when not clustered).</param>
/// <param name="Peers">The stream's other replicas: name, whether current, lag in operations.</param>
/// <param name="Rooms">Messages kept per room subject token.</param>
/// <param name="Nodes">The chat nodes heard from.</param>
public sealed record NatsClusterStatus(
    string Url,
    string Stream,
    long Messages,
    long Bytes,
    long FirstSequence,
    long LastSequence,
    int Replicas,
    string? Leader,
    IReadOnlyList<(string Name, bool Current, long Lag)> Peers,
    IReadOnlyList<(string Room, long Messages)> Rooms,
    IReadOnlyList<NatsNodeInfo> Nodes)
{
    /// <summary>
    /// Asks NATS for the stream's state and listens for the nodes' heartbeats for <paramref name="listen"/>
    /// (a little more than one heartbeat interval hears every live node).
    /// </summary>
    /// <exception cref="ChatBackplaneUnavailableException">NATS cannot be reached, or the stream does not exist.</exception>
    public static async Task<NatsClusterStatus> ReadAsync(string url, string stream, string subjectPrefix, TimeSpan listen, CancellationToken cancellationToken, string? credentialsFile = null)
    {
        await using var nats = new NatsConnection(new NatsOpts
        {
            Url = url,
            Name = "parley cluster status",
            MaxReconnectRetry = 0,
            AuthOpts = credentialsFile is null ? NatsAuthOpts.Default : new NatsAuthOpts { CredsFile = credentialsFile },
        });
        string shown = NatsChatBackplaneOptions.Redact(url);
        try
        {
            using var connecting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            connecting.CancelAfter(TimeSpan.FromSeconds(5));
            await nats.ConnectAsync().AsTask().WaitAsync(connecting.Token).ConfigureAwait(false);
            var js = new NatsJSContext(nats);
            var nodes = new Dictionary<string, NatsNodeInfo>(StringComparer.Ordinal);
            var started = TimeProvider.System.GetTimestamp();
            await using INatsSub<byte[]> heartbeats = await nats.SubscribeCoreAsync<byte[]>($"{subjectPrefix}.nodes", cancellationToken: cancellationToken).ConfigureAwait(false);

            INatsJSStream info;
            try
            {
                info = await js.GetStreamAsync(stream, new StreamInfoRequest { SubjectsFilter = $"{subjectPrefix}.room.>" }, cancellationToken).ConfigureAwait(false);
            }
            catch (NatsJSApiException ex) when (ex.Error.Code == 404)
            {
                throw new ChatBackplaneUnavailableException($"NATS at {shown} has no stream {stream}: no node has started with it yet");
            }

            using (var listening = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                listening.CancelAfter(listen);
                try
                {
                    await foreach (NatsMsg<byte[]> msg in heartbeats.Msgs.ReadAllAsync(listening.Token).ConfigureAwait(false))
                    {
                        if (msg.Data is { } data && PresenceMessage.TryRead(data, out PresenceMessage message) && message.Kind == PresenceKind.Heartbeat)
                        {
                            nodes[message.Instance] = new NatsNodeInfo(message.Name, message.Instance, message.Users, message.Delivered, message.Lag, message.Addresses, TimeSpan.Zero);
                        }
                    }
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    // Listened long enough.
                }
            }

            // The stream may have moved on while listening: lag against its newest sequence now
            // (asked again with the subjects filter: a plain refresh leaves out the per-room counts).
            info = await js.GetStreamAsync(stream, new StreamInfoRequest { SubjectsFilter = $"{subjectPrefix}.room.>" }, cancellationToken).ConfigureAwait(false);
            StreamState state = info.Info.State;
            string roomPrefix = $"{subjectPrefix}.room.";
            return new NatsClusterStatus(
                shown,
                stream,
                state.Messages,
                state.Bytes,
                (long)state.FirstSeq,
                (long)state.LastSeq,
                info.Info.Config.NumReplicas,
                info.Info.Cluster?.Leader,
                [.. (info.Info.Cluster?.Replicas ?? []).Select(p => (p.Name, p.Current, (long)p.Lag))],
                [.. (state.Subjects ?? new Dictionary<string, long>()).Select(s => (RoomName(s.Key, roomPrefix), s.Value)).OrderBy(r => r.Item1, StringComparer.Ordinal)],
                [.. nodes.Values.OrderBy(n => n.Name, StringComparer.Ordinal)]);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ChatBackplaneUnavailableException($"NATS at {shown} did not answer");
        }
        catch (NatsException ex)
        {
            throw new ChatBackplaneUnavailableException($"cannot use NATS at {shown}: {ex.Message}", ex);
        }
    }

    /// <summary>A room subject back to the room's name (undoing <see cref="NatsChatBackplane.SubjectToken"/>).</summary>
    internal static string RoomName(string subject, string prefix)
    {
        string token = subject.StartsWith(prefix, StringComparison.Ordinal) ? subject[prefix.Length..] : subject;
        if (token.StartsWith('~'))
        {
            try
            {
                return System.Text.Encoding.UTF8.GetString(Convert.FromHexString(token.AsSpan(1)));
            }
            catch (FormatException)
            {
                return token;
            }
        }

        return token;
    }
}
