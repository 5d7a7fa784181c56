namespace Parley.Chat;

/// <summary>The server as a node of a cluster: messages go through <see cref="IChatBackplane"/>.</summary>
public sealed partial class ChatServer
{
    private readonly BackplaneHost? _host;
    private readonly Lock _acksLock = new();
    private readonly Dictionary<long, PendingAck> _pendingAcks = []; // stored, not yet delivered here: acked on delivery
    private long _deliveredId; // the last id the backplane delivered here
    private volatile string? _deliveryStopped; // set when the backplane will deliver nothing more here

    /// <summary>Sends acknowledged by the backplane whose delivery here has not come yet (for tests).</summary>
    internal int PendingAcks
    {
        get
        {
            lock (_acksLock)
            {
                return _pendingAcks.Count;
            }
        }
    }

    /// <summary>Sends of one session in flight to the backplane at once: past it the session's next send waits.</summary>
    private const int MaxPublishesInFlight = 64;

    /// <summary>
    /// A send in a cluster: handed to the backplane in the order the session sent it (a session's
    /// next command waits only until this one is on its way, not for its confirmation, so a
    /// session's messages are pipelined and keep their order), then acknowledged once the log
    /// holds it and this node has delivered it — the sender sees its <c>user_message</c> before the
    /// ack, as on a single server. A refusal that comes later is sent with the message's <c>ref</c>.
    /// </summary>
    private async ValueTask<ChatError?> PublishAsync(IChatBackplane backplane, Session session, PendingMessage pending, CancellationToken cancellationToken)
    {
        SemaphoreSlim slots = session.PublishSlots(MaxPublishesInFlight);
        try
        {
            await slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            pending.Return();
            throw;
        }

        session.BeginCommit();
        Task<long> stored;
        try
        {
            stored = await backplane.PublishAsync(pending.Room.Name, pending.RecordMemory, cancellationToken).ConfigureAwait(false);
        }
        catch (ChatBackplaneUnavailableException ex)
        {
            session.EndCommit();
            slots.Release();
            pending.Return();
            return Unavailable(session, ex);
        }
        catch
        {
            session.EndCommit();
            slots.Release();
            pending.Return();
            throw;
        }

        Room room = pending.Room;
        long? reference = pending.Ref;
        pending.Return(); // on its way: the backplane has its bytes

        // Each confirmation waits for the one before it: a session's acks go out in the order it
        // sent, as on a single server (clients without refs match acks to sends by order).
        session.LastConfirmation = ConfirmAsync(stored, session.LastConfirmation, session, slots, room, reference);
        return null;
    }

    private async Task ConfirmAsync(Task<long> stored, Task previous, Session session, SemaphoreSlim slots, Room room, long? reference)
    {
        bool acked = false;
        try
        {
            long id;
            try
            {
                id = await stored.ConfigureAwait(false);
            }
            finally
            {
                await previous.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            ChatMetrics.MessagesReceived.Add(1);
            acked = true; // from here the ack (sent now or on delivery) ends the commit and frees the slot
            AckWhenDelivered(id, new PendingAck(session, room, reference, slots));
        }
        catch (ChatBackplaneUnavailableException ex)
        {
            ChatError error = Unavailable(session, ex) with { Ref = reference };
            ChatMetrics.Errors.Add(1, new KeyValuePair<string, object?>("code", error.Code));
            session.Connection.Send(Events.Error(error));
        }
        catch (Exception ex)
        {
            if (_faultLogLimiter.TryTake(out long suppressed))
            {
                Log.CommandFailed(_logger, session.Id, session.Connection.RemoteEndPoint, "send_message", suppressed, ex);
            }
        }
        finally
        {
            if (!acked)
            {
                session.EndCommit();
                slots.Release();
            }
        }
    }

    private ChatError Unavailable(Session session, ChatBackplaneUnavailableException ex)
    {
        if (_faultLogLimiter.TryTake(out long heldBack))
        {
            Log.BackplaneUnavailable(_logger, session.Id, heldBack, ex.Message);
        }

        return new ChatError(
            ErrorCodes.Unavailable,
            ex.MayBeStored
                ? "the cluster did not confirm this message in time: it may still be stored and delivered (look at the room's history before sending it again)"
                : "the cluster cannot store messages now; the message was not stored, try again",
            "send_message");
    }

    private void AckWhenDelivered(long id, PendingAck ack)
    {
        lock (_acksLock)
        {
            if (id > _deliveredId && _deliveryStopped is null)
            {
                _pendingAcks[id] = ack;
                return;
            }
        }

        if (id > Interlocked.Read(ref _deliveredId) && _deliveryStopped is { } reason)
        {
            Strand(ack, reason); // it will never be delivered here
            return;
        }

        // Delivered here already (the log handed it over before its publisher heard back).
        SendAck(id, ack);
    }

    /// <summary>Sends an ack; whatever happens, the send's commit ends and its slot is free (a session's in-flight limit counts until here: a node behind on delivery holds its senders back).</summary>
    private void SendAck(long id, PendingAck ack)
    {
        try
        {
            ack.Session.Connection.Send(Events.MessageAck(ack.Room, id, ack.Ref));
        }
        catch (Exception ex)
        {
            if (_faultLogLimiter.TryTake(out long suppressed))
            {
                Log.CommandFailed(_logger, ack.Session.Id, ack.Session.Connection.RemoteEndPoint, "send_message", suppressed, ex);
            }
        }
        finally
        {
            ack.Session.EndCommit();
            ack.Slots.Release();
        }
    }

    /// <summary>From the backplane, in the log's order: deliver to this node's members, then ack this node's senders.</summary>
    private void OnBackplaneMessage(long id, DateTimeOffset timestamp, ReadOnlySpan<byte> record)
    {
        try
        {
            if (ChatRecord.TryRead(record, out ReadOnlySpan<byte> roomName, out ReadOnlySpan<byte> user, out ReadOnlySpan<byte> content)
                && _rooms.TryFind(roomName, out Room? room)
                && Deliverable(user, content))
            {
                RepairText(ref user, ref content);
                Span<byte> delivery = Events.UserMessage(room!, user, content, id, timestamp, out int historyStart);
                room!.AddHistory(id, delivery[historyStart..], FirstRetainedId);
                delivery[historyStart] = (byte)','; // {"_et":"user_message","r":ROOM + ,"u":…}
                int recipients = room.Group.Broadcast(delivery);
                ChatMetrics.MessagesDelivered.Add(recipients);
            }
            else if (_faultLogLimiter.TryTake(out long suppressed))
            {
                // Another node's rooms file has a room this one lacks, or its limits let through a
                // message larger than this node's: its members cannot be here, or it cannot be framed.
                Log.ForeignRecord(_logger, id, suppressed);
            }
        }
        finally
        {
            // Delivery walks the sequences in order, so the ack due now is this id's; only a jump
            // (sequences the stream no longer has) can leave earlier ones, looked for then alone.
            PendingAck? ack;
            List<long>? skipped = null;
            lock (_acksLock)
            {
                long previous = Interlocked.Exchange(ref _deliveredId, id);
                _pendingAcks.Remove(id, out ack);
                if (id > previous + 1 && _pendingAcks.Count > 0)
                {
                    skipped = [.. _pendingAcks.Keys.Where(key => key < id).Order()];
                }
            }

            if (skipped is not null)
            {
                foreach (long earlier in skipped)
                {
                    PendingAck? stranded;
                    lock (_acksLock)
                    {
                        _pendingAcks.Remove(earlier, out stranded);
                    }

                    if (stranded is not null)
                    {
                        SendAck(earlier, stranded);
                    }
                }
            }

            if (ack is not null)
            {
                SendAck(id, ack);
            }
        }
    }

    /// <summary>
    /// Whether a stored message fits this node's limits (another node may allow longer ones, or a
    /// peer on the engine may have written anything): one that does not is skipped, never framed.
    /// </summary>
    private bool Deliverable(ReadOnlySpan<byte> user, ReadOnlySpan<byte> content) =>
        content.Length is > 0 && content.Length <= _options.MaxMessageBytes && user.Length is > 0 and <= ChatLimits.MaxNameBytes;

    /// <summary>Another node's user entered or left a room: this node's members hear of it when the room, as they see it, changed.</summary>
    private void OnRemotePresence(string room, string user, bool present)
    {
        if (_rooms.TryFind(room, out Room? target) && target!.SetRemote(user, present))
        {
            target.Group.Broadcast(Events.RoomParticipation(target.Name, user, joined: present));
        }
    }

    /// <summary>
    /// The backplane will deliver nothing more here: the sends waiting for their delivery get
    /// <c>unavailable</c> (they were stored, so "may still be" seen elsewhere) instead of an ack
    /// that would never come, and their sessions stop waiting.
    /// </summary>
    private void OnDeliveryStopped(string reason)
    {
        List<PendingAck> stranded;
        lock (_acksLock)
        {
            _deliveryStopped = reason;
            stranded = [.. _pendingAcks.Values];
            _pendingAcks.Clear();
        }

        foreach (PendingAck ack in stranded)
        {
            Strand(ack, reason);
        }
    }

    private static void Strand(PendingAck ack, string reason)
    {
        try
        {
            ack.Session.Connection.Send(Events.Error(new ChatError(
                ErrorCodes.Unavailable,
                $"the message was stored but this server can no longer deliver it ({reason}); it may be seen on other servers",
                "send_message",
                ack.Ref)));
        }
        catch (Exception)
        {
            // The session is going anyway; what matters is that it stops waiting.
        }
        finally
        {
            ack.Session.EndCommit();
            ack.Slots.Release();
        }
    }

    /// <summary>A user of this node entered (first session here) or left (last) a room: tell the other nodes.</summary>
    private void AnnouncePresence(Room room, string user, bool present)
    {
        try
        {
            _backplane?.SetPresence(room.Name, user, present);
        }
        catch (Exception ex)
        {
            // A backplane's fault must not stop a join or a session's clean-up; its heartbeats heal presence.
            if (_faultLogLimiter.TryTake(out long suppressed))
            {
                Log.PresenceFailed(_logger, room.Name, user, suppressed, ex);
            }
        }
    }

    private sealed record PendingAck(Session Session, Room Room, long? Ref, SemaphoreSlim Slots);

    private sealed class BackplaneHost(ChatServer server) : IChatBackplaneHost
    {
        public void OnMessage(long id, DateTimeOffset timestamp, ReadOnlySpan<byte> record) => server.OnBackplaneMessage(id, timestamp, record);

        public void OnRemotePresence(string node, string room, string user, bool present) => server.OnRemotePresence(room, user, present);

        public void OnDeliveryStopped(string reason) => server.OnDeliveryStopped(reason);
    }
}
