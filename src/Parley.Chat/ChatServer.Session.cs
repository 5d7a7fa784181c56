using System.Runtime.InteropServices;
using System.Buffers;
using System.Text;
using Parley.Journal;

namespace Parley.Chat;

public sealed partial class ChatServer
{
    private static readonly TimeSpan FailedLoginDelay = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan PendingCommitsWait = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Runs one session: greets (or waits for <c>login</c>), then handles its commands in order
    /// until the peer quits or disconnects, the connection is closed for too many errors, or
    /// <paramref name="cancellationToken"/> fires. On the way out the session leaves its rooms.
    /// </summary>
    /// <param name="connection">An open connection using <see cref="Framer"/>.</param>
    /// <param name="cancellationToken">Stops the session.</param>
    public async Task RunSessionAsync(Connection connection, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var session = new Session(connection, NewSessionId(), _options.TimeProvider, _options.MaxCommandsPerSecond);
        Interlocked.Increment(ref _sessions);
        ChatMetrics.Sessions.Add(1);

        // A connection that never logs in (or, when open, never sends a valid command) must not
        // hold its slot: the timer ends it unless the command loop disarms it first.
        using ITimer loginTimer = _options.TimeProvider.CreateTimer(static state => ((Session)state!).OnLoginTimeout(), session, _options.LoginTimeout, Timeout.InfiniteTimeSpan);
        try
        {
            if (_options.Auth == AuthMode.Open)
            {
                string user = NewUserId();
                TryAddUserSession(user);
                session.User = user;
                connection.Send(Events.LoginSuccessful(session.Id, user, _roomGreeting, _options.EffectiveMaxEventBytes));
                Log.SessionStarted(_logger, session.Id, user, connection.RemoteEndPoint);
            }

            await foreach (ReadOnlySequence<byte> line in connection.ReadMessagesAsync(cancellationToken).ConfigureAwait(false))
            {
                TimeSpan wait = session.TakeCommandToken();
                if (wait > TimeSpan.Zero)
                {
                    // Over the command rate: read this connection more slowly (TCP pushes back on the peer).
                    await Task.Delay(wait, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
                }

                ChatCommand command = default;
                ChatError error = default;
                PendingMessage? send = TryReadSendMessage(session, line);
                bool parsed = true;
                if (send is not null)
                {
                    command = new ChatCommand(ChatCommandType.SendMessage, Ref: send.Ref);
                }
                else
                {
                    parsed = ChatCommandReader.TryRead(line, out command, out error);
                }

                ChatMetrics.Commands.Add(1);
                if (parsed)
                {
                    ChatError? refused;
                    try
                    {
                        if (send is null)
                        {
                            refused = await HandleAsync(session, command, cancellationToken).ConfigureAwait(false);
                        }
                        else if (!TryAppend(session, send, out refused))
                        {
                            refused = await AppendAsync(session, send, cancellationToken).ConfigureAwait(false);
                        }
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        // A fault of ours, not the peer's: say so, log it (rate-limited: a peer that can
                        // trigger it must not flood the log), and end only this session.
                        FailSession(session, command, ex);
                        break;
                    }

                    if (session.Connection.State != ConnectionState.Open)
                    {
                        break;
                    }

                    if (refused is null)
                    {
                        if (_options.Auth == AuthMode.Open || session.User is not null)
                        {
                            session.DisarmLoginTimeout();
                        }

                        continue;
                    }

                    // The refusal names the command and echoes its ref: a pipelining client tells its sends apart.
                    error = refused.Value with { Ref = command.Ref };
                }

                if (!await RefuseAsync(session, error).ConfigureAwait(false))
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Server shutdown: fall through to cleanup.
        }

        try
        {
            // The peer may have closed its sending side right after its last command (nc with
            // piped input): the connection can still carry the replies, so wait for the journal
            // to take what this session sent; each commit queues its ack before the close flushes.
            // Bounded: a disk that hangs must not hold the connection (and its slot) for ever; the
            // messages are still stored when it recovers, only their acks are lost with the session.
            await session.WhenCommittedAsync().WaitAsync(PendingCommitsWait, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Server shutdown: the journal is flushed after the sessions; the connection is closing anyway.
        }
        catch (TimeoutException)
        {
            // The journal is stuck; this session ends without the acks still pending.
        }
        finally
        {
            foreach (Room room in session.Rooms)
            {
                if (room.Leave(connection, session.User!, out bool lastAnywhere))
                {
                    AnnouncePresence(room, session.User!, present: false);
                }

                if (lastAnywhere)
                {
                    room.Group.Broadcast(Events.RoomParticipation(room.Name, session.User!, joined: false));
                }
            }

            session.Rooms.Clear();
            if (session.User is { } user)
            {
                RemoveUserSession(user);
                Log.SessionEnded(_logger, session.Id, user, connection.CloseReason);
            }

            Interlocked.Decrement(ref _sessions);
            ChatMetrics.Sessions.Add(-1);
        }
    }

    private void FailSession(Session session, ChatCommand command, Exception exception)
    {
        ChatMetrics.Errors.Add(1, new KeyValuePair<string, object?>("code", ErrorCodes.InternalError));
        if (_faultLogLimiter.TryTake(out long suppressed))
        {
            Log.CommandFailed(_logger, session.Id, session.Connection.RemoteEndPoint, command.Name, suppressed, exception);
        }

        session.Connection.Send(Events.Error(new ChatError(ErrorCodes.InternalError, "the server failed to carry out this command; closing", command.Name, command.Ref)));
        _ = session.Connection.CloseAsync(CloseReason.ApplicationError);
    }

    /// <summary>Sends an error; false when the session passed its error budget and is being closed.</summary>
    private async ValueTask<bool> RefuseAsync(Session session, ChatError error)
    {
        ChatMetrics.Errors.Add(1, new KeyValuePair<string, object?>("code", error.Code));
        if (error.Code == ErrorCodes.Malformed && !session.BadInputLogged)
        {
            // Once per session at debug, and within the server-wide log budget.
            session.BadInputLogged = true;
            if (_logger.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Debug) && _logLimiter.TryTake(out long suppressed))
            {
                Log.BadInput(_logger, session.Id, session.Connection.RemoteEndPoint, error.Code, error.Message, suppressed);
            }
        }

        session.Connection.Send(Events.Error(error));

        // A message the server could not store is the server's fault, not the peer's: it must
        // not use up the peer's error budget and get it disconnected while the disk is failing.
        if (error.Code is ErrorCodes.StorageFailed or ErrorCodes.Unavailable || !session.RecordError(_options.MaxErrorsPerMinute))
        {
            return true;
        }

        if (_logLimiter.TryTake(out long heldBack))
        {
            Log.TooManyErrors(_logger, session.Id, session.Connection.RemoteEndPoint, _options.MaxErrorsPerMinute, error.Code, heldBack);
        }
        session.Connection.Send(Events.Error(new ChatError(ErrorCodes.TooManyErrors, $"more than {_options.MaxErrorsPerMinute} refused commands in a minute; closing")));
        await session.Connection.CloseAsync(CloseReason.ProtocolError).ConfigureAwait(false);
        return false;
    }

    private async ValueTask<ChatError?> HandleAsync(Session session, ChatCommand command, CancellationToken cancellationToken)
    {
        if (command.Type is not (ChatCommandType.SendMessage or ChatCommandType.Ping))
        {
            // Commands take effect in the order they were sent: a history or a leave after a
            // send sees that message stored. Sends alone stay pipelined.
            await session.WhenCommittedAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        if (session.User is null)
        {
            return command.Type switch
            {
                ChatCommandType.Login => await LoginAsync(session, command, cancellationToken).ConfigureAwait(false),
                ChatCommandType.Ping => Reply(session, Events.Pong()),
                ChatCommandType.Quit => await QuitAsync(session).ConfigureAwait(false),
                _ => new ChatError(ErrorCodes.NotLoggedIn, "log in first: {\"_ct\":\"login\",\"u\":…,\"p\":…}", command.Name),
            };
        }

        switch (command.Type)
        {
            case ChatCommandType.Login:
                return new ChatError(ErrorCodes.AlreadyLoggedIn, $"already logged in as {session.User}", command.Name);
            case ChatCommandType.JoinRoom:
                return Join(session, command);
            case ChatCommandType.LeaveRoom:
                return Leave(session, command);
            case ChatCommandType.SendMessage:
                return await SendMessageAsync(session, command, cancellationToken).ConfigureAwait(false);
            case ChatCommandType.ListRooms:
                return ListRooms(session, command);
            case ChatCommandType.ListUsers:
                return ListUsers(session, command);
            case ChatCommandType.History:
                return await HistoryAsync(session, command, cancellationToken).ConfigureAwait(false);
            case ChatCommandType.Ping:
                return Reply(session, Events.Pong());
            case ChatCommandType.Quit:
                return await QuitAsync(session).ConfigureAwait(false);
            case ChatCommandType.WatchMetrics:
                if (_options.MetricsFeed is not { } feed)
                {
                    return new ChatError(ErrorCodes.UnknownCommand, "this server does not publish metrics", command.Name, command.Ref);
                }

                feed.Watch(session.Connection);
                return null;
            case ChatCommandType.UnwatchMetrics:
                _options.MetricsFeed?.Unwatch(session.Connection);
                return null;
            default:
                return new ChatError(ErrorCodes.UnknownCommand, $"unknown command \"{command.Name}\"", command.Name);
        }
    }

    private static ChatError? Reply(Session session, ReadOnlySpan<byte> @event)
    {
        session.Connection.Send(@event);
        return null;
    }

    private static async ValueTask<ChatError?> QuitAsync(Session session)
    {
        await session.Connection.CloseAsync().ConfigureAwait(false);
        return null;
    }

    private async ValueTask<ChatError?> LoginAsync(Session session, ChatCommand command, CancellationToken cancellationToken)
    {
        string name = command.User!;
        if (_users is null)
        {
            return new ChatError(ErrorCodes.AlreadyLoggedIn, "this server does not use logins", command.Name);
        }

        if (!session.BeginLoginCheck())
        {
            return null; // the login deadline passed first: the connection is closing
        }

        ChatError? error = new ChatError(ErrorCodes.InternalError, "the login could not be checked", command.Name);
        try
        {
            error = await CheckLoginAsync(session, command, name, _users, cancellationToken).ConfigureAwait(false);
            return error;
        }
        finally
        {
            session.EndLoginCheck(success: error is null);
        }
    }

    private async ValueTask<ChatError?> CheckLoginAsync(Session session, ChatCommand command, string name, UserStore users, CancellationToken cancellationToken)
    {
        string address = PeerAddress.Of(session.Connection.RemoteEndPoint);
        if (_throttle.IsThrottled(address, name))
        {
            ChatMetrics.LoginFailures.Add(1);
            if (_logLimiter.TryTake(out long suppressed))
            {
                Log.LoginThrottled(_logger, session.Id, name, session.Connection.RemoteEndPoint, suppressed);
            }
            return new ChatError(ErrorCodes.Throttled, $"too many failed logins for {name} from your address; try again later", command.Name);
        }

        string password = command.Password!;
        bool? verified = await _passwordChecks.VerifyAsync(address, () => users.Verify(name, password), cancellationToken).ConfigureAwait(false);
        if (verified is null)
        {
            ChatMetrics.LoginFailures.Add(1);
            return new ChatError(ErrorCodes.Throttled, "too many logins are being checked; try again in a moment", command.Name);
        }

        if (verified == false)
        {
            _throttle.RecordFailure(address, name);
            ChatMetrics.LoginFailures.Add(1);
            if (_logLimiter.TryTake(out long suppressed))
            {
                Log.LoginFailed(_logger, session.Id, name, session.Connection.RemoteEndPoint, suppressed);
            }
            await Task.Delay(FailedLoginDelay, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
            return new ChatError(ErrorCodes.LoginFailed, "wrong user name or password", command.Name);
        }

        _throttle.RecordSuccess(address, name);
        if (!TryAddUserSession(name))
        {
            return new ChatError(ErrorCodes.TooManySessions, $"{name} already has {_options.MaxSessionsPerUser} sessions", command.Name);
        }

        session.User = name;
        session.Connection.Send(Events.LoginSuccessful(session.Id, name, _roomGreeting, _options.EffectiveMaxEventBytes));
        Log.SessionStarted(_logger, session.Id, name, session.Connection.RemoteEndPoint);
        return null;
    }

    private bool FindRoom(ChatCommand command, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Room? room, out ChatError? error)
    {
        if (_rooms.TryFind(command.Room!, out room))
        {
            error = null;
            return true;
        }

        string shown = command.Room!.Length <= 40 ? command.Room : command.Room[..40] + "…";
        error = new ChatError(ErrorCodes.UnknownRoom, $"no room named \"{shown}\"", command.Name);
        return false;
    }

    private ChatError? Join(Session session, ChatCommand command)
    {
        if (!FindRoom(command, out Room? room, out ChatError? unknown))
        {
            return unknown;
        }

        if (session.Rooms.Contains(room))
        {
            return new ChatError(ErrorCodes.AlreadyMember, $"already in {room.Name}", command.Name);
        }

        if (session.Rooms.Count >= _options.MaxRoomsPerSession)
        {
            return new ChatError(ErrorCodes.TooManyRooms, $"a session may be in {_options.MaxRoomsPerSession} rooms at most", command.Name);
        }

        string user = session.User!;
        if (room.Join(session.Connection, user, out bool firstAnywhere))
        {
            AnnouncePresence(room, user, present: true);
        }

        session.Rooms.Add(room);
        session.Connection.Send(Events.UserJoinedRoom(room.Name, room.Users(), _options.EffectiveMaxEventBytes));
        if (firstAnywhere)
        {
            room.Group.Broadcast(Events.RoomParticipation(room.Name, user, joined: true));
        }

        return null;
    }

    private ChatError? Leave(Session session, ChatCommand command)
    {
        if (!FindRoom(command, out Room? room, out ChatError? unknown))
        {
            return unknown;
        }

        if (!session.Rooms.Remove(room))
        {
            return new ChatError(ErrorCodes.NotAMember, $"not in {room.Name}", command.Name);
        }

        string user = session.User!;
        if (room.Leave(session.Connection, user, out bool lastAnywhere))
        {
            AnnouncePresence(room, user, present: false);
        }

        if (lastAnywhere)
        {
            ReadOnlySpan<byte> left = Events.RoomParticipation(room.Name, user, joined: false);
            room.Group.Broadcast(left);
            session.Connection.Send(left);
        }
        else
        {
            // The user is still in the room through another session (here or on another node): only this session hears it left.
            session.Connection.Send(Events.RoomParticipation(room.Name, user, joined: false));
        }

        return null;
    }

    private async ValueTask<ChatError?> HistoryAsync(Session session, ChatCommand command, CancellationToken cancellationToken)
    {
        if (!FindRoom(command, out Room? room, out ChatError? unknown))
        {
            return unknown;
        }

        int limit = Math.Clamp(command.Limit ?? 50, 1, _options.MaxHistoryPage);
        int budget = _options.EffectiveMaxEventBytes - Events.HistoryEnvelope(room!.Name);
        long before = command.Before ?? long.MaxValue;
        var ids = new List<long>();
        if (Events.TryHistory(room, before, limit, budget, FirstRetainedId, ids, out bool more, out ReadOnlySpan<byte> page))
        {
            session.Connection.Send(page);
            return null;
        }

        // Older than memory holds: read from the journal, one page at a time for the whole
        // server (disk reads; a client paging back waits its turn, the chat goes on).
        await _journalReads.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_options.BeforeJournalPage is { } hook)
            {
                await hook().ConfigureAwait(false);
            }

            // None of the ids readable (retention deleted their segments while this page waited,
            // or damage accepted at open): page on from below them rather than send an empty
            // page that says more. Each round goes further back, so it ends.
            while (!await SendStoredPageAsync(session, room, ids, more, budget, cancellationToken).ConfigureAwait(false))
            {
                long tried = ids[0];
                ids.Clear();
                if (Events.TryHistory(room, tried, limit, budget, FirstRetainedId, ids, out more, out ReadOnlySpan<byte> older))
                {
                    session.Connection.Send(older);
                    break;
                }
            }
        }
        finally
        {
            _journalReads.Release();
        }

        return null;
    }

    /// <summary>
    /// A <c>history</c> page read from the journal (or a cluster's log): the records of <paramref name="ids"/>, encoded
    /// as the in-memory history keeps them, the newest that fit <paramref name="budget"/> (always
    /// one), oldest first. False, and nothing sent, when none of them could be read.
    /// </summary>
    private async ValueTask<bool> SendStoredPageAsync(Session session, Room room, List<long> ids, bool more, int budget, CancellationToken cancellationToken)
    {
        using var entries = new PooledBufferWriter();
        var ends = new List<int>(ids.Count);
        void Add(long id, DateTimeOffset timestamp, ReadOnlySpan<byte> payload)
        {
            if (ChatRecord.TryRead(payload, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> user, out ReadOnlySpan<byte> content)
                && name.SequenceEqual(room.NameUtf8)
                && (_backplane is null || Deliverable(user, content)))
            {
                RepairText(ref user, ref content);
                ChatEventWriter.WriteHistoryMessage(entries, user, content, id, timestamp);
                ends.Add(entries.WrittenCount);
            }
        }

        if (_backplane is { } backplane)
        {
            try
            {
                await backplane.ReadAsync(ids, Add, cancellationToken).ConfigureAwait(false);
            }
            catch (ChatBackplaneUnavailableException)
            {
                // Older history cannot be read now: say so rather than send a page with a hole.
                session.Connection.Send(Events.Error(new ChatError(ErrorCodes.Unavailable, "older history cannot be read from the cluster now; try again", "history")));
                return true;
            }
        }
        else
        {
            _journal!.Read(CollectionsMarshal.AsSpan(ids), (in JournalRecord record) => Add(record.Id, record.Timestamp, record.Payload.Span));
        }

        if (ends.Count == 0)
        {
            return false;
        }

        // The newest entries that fit, as the in-memory page counts them (each with a comma).
        int first = ends.Count;
        long bytes = 0;
        while (first > 0)
        {
            int start = first == 1 ? 0 : ends[first - 2];
            bytes += ends[first - 1] - start + 1;
            if (first < ends.Count && bytes > budget)
            {
                break;
            }

            first--;
        }

        int from = first == 0 ? 0 : ends[first - 1];
        session.Connection.Send(Events.JournalHistory(room, entries.WrittenSpan[from..], ends, first, from, more || first > 0));
        return true;
    }

        private ChatError? ListRooms(Session session, ChatCommand command)
    {
        // In the rooms file's order: a page starts after the room the client last saw.
        int start = 0;
        if (command.After is { } after && _rooms.TryFind(after, out Room? last))
        {
            start = Array.IndexOf(_roomList, last!) + 1;
        }

        // Counted now; a list_rooms is rare (and rate-limited with every command), so the page is built per call.
        var rooms = new ChatRoomInfo[_roomList.Length];
        for (int i = 0; i < rooms.Length; i++)
        {
            rooms[i] = new ChatRoomInfo(_roomList[i].Name, _roomList[i].Description, _roomList[i].UserCount);
        }

        session.Connection.Send(Events.Rooms(rooms, start, _options.EffectiveMaxEventBytes));
        return null;
    }

    private ChatError? ListUsers(Session session, ChatCommand command)
    {
        if (!FindRoom(command, out Room? room, out ChatError? unknown))
        {
            return unknown;
        }

        // Sorted by ordinal: a page starts after the name the client last saw.
        string[] users = room.Users();
        int start = 0;
        if (command.After is { } after)
        {
            int index = Array.BinarySearch(users, after, StringComparer.Ordinal);
            start = index >= 0 ? index + 1 : ~index;
        }

        session.Connection.Send(Events.RoomUsers(room.Name, users, start, _options.EffectiveMaxEventBytes));
        return null;
    }

    private async ValueTask<ChatError?> SendMessageAsync(Session session, ChatCommand command, CancellationToken cancellationToken)
    {
        if (!FindRoom(command, out Room? room, out ChatError? unknown))
        {
            return unknown;
        }

        if (!session.Rooms.Contains(room))
        {
            return new ChatError(ErrorCodes.NotAMember, $"join {room.Name} before sending to it", command.Name);
        }

        string content = command.Content!;
        int bytes = Encoding.UTF8.GetByteCount(content);
        if (bytes > _options.MaxMessageBytes)
        {
            return new ChatError(ErrorCodes.MessageTooLong, $"a message holds at most {_options.MaxMessageBytes} bytes; this one has {bytes}", command.Name);
        }

        if (bytes == 0)
        {
            return new ChatError(ErrorCodes.EmptyMessage, "the message is empty", command.Name);
        }

        if (session.UserUtf8.Length > ChatLimits.MaxNameBytes)
        {
            // Only a hand-edited users file can hold such a name (names are checked when added).
            return new ChatError(ErrorCodes.StorageFailed, $"the message could not be stored: the user name is longer than {ChatLimits.MaxNameBytes} bytes", command.Name);
        }

        var pending = PendingMessage.Rent(bytes);
        Encoding.UTF8.GetBytes(content, pending.Buffer.AsSpan(PendingMessage.ContentOffset));
        pending.Complete(session, room, bytes, command.Ref);
        return await AppendAsync(session, pending, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The fast path of <c>send_message</c>: a logged-in session's well-formed send to a room it is
    /// in, with content within the limits, read straight into a pending message (nothing allocated).
    /// Null for anything else, which the general reader and <see cref="HandleAsync"/> take, and
    /// refuse with the error they give.
    /// </summary>
    private PendingMessage? TryReadSendMessage(Session session, in ReadOnlySequence<byte> line)
    {
        if (session.User is null || session.UserUtf8.Length > ChatLimits.MaxNameBytes || line.Length > int.MaxValue - PendingMessage.ContentOffset)
        {
            return null;
        }

        var pending = PendingMessage.Rent((int)line.Length);
        if (SendMessageReader.TryRead(line, _rooms, pending.Buffer, PendingMessage.ContentOffset, out Room? room, out int length, out long? reference)
            && length > 0 && length <= _options.MaxMessageBytes && session.Rooms.Contains(room!))
        {
            pending.Complete(session, room!, length, reference);
            return pending;
        }

        pending.Return();
        return null;
    }

    /// <summary>
    /// Appends a message to the journal unless it (or the deliveries behind it) is full; the
    /// journal's callback hands it to <see cref="Deliver"/>. False when full: the pending message is still the
    /// caller's, to try again once there is room (<see cref="AppendAsync"/>). True otherwise, with
    /// <paramref name="refused"/> set when the journal has stopped; either way the pending message
    /// is no longer the caller's. Synchronous, so the common case allocates nothing.
    /// </summary>
    private bool TryAppend(Session session, PendingMessage pending, out ChatError? refused)
    {
        refused = null;
        if (_journal is null)
        {
            return false; // a cluster's backplane: AppendAsync publishes
        }

        if (_deliveries.IsFull)
        {
            return false; // deliveries are behind the disk: wait for them (AppendAsync)
        }

        session.BeginCommit(); // before the append: the commit may come at once
        bool appended;
        try
        {
            appended = _journal.TryAppend(pending.Record, _onCommitted, pending, out _);
        }
        catch (IOException ex)
        {
            // The journal's writer stopped (a disk fault never throws here: it refuses the record
            // through OnCommitted). Every send fails from now on: one line, not one stack trace per message.
            session.EndCommit();
            pending.Return();
            if (_faultLogLimiter.TryTake(out long heldBack))
            {
                Log.StoreFailed(_logger, session.Id, heldBack, ex);
            }

            refused = new ChatError(ErrorCodes.StorageFailed, "the message could not be stored", "send_message");
            return true;
        }
        catch (Exception)
        {
            // The journal is closing (or worse): undo the bookkeeping; the session loop handles the exception.
            session.EndCommit();
            pending.Return();
            throw;
        }

        if (!appended)
        {
            session.EndCommit();
            return false;
        }

        ChatMetrics.MessagesReceived.Add(1);
        return true;
    }

    /// <summary>Appends a message, waiting for room while the disk or the deliveries are behind (TCP then pushes back on the peer).</summary>
    private async ValueTask<ChatError?> AppendAsync(Session session, PendingMessage pending, CancellationToken cancellationToken)
    {
        if (_backplane is { } backplane)
        {
            return await PublishAsync(backplane, session, pending, cancellationToken).ConfigureAwait(false);
        }

        ChatError? refused;
        while (!TryAppend(session, pending, out refused))
        {
            try
            {
                await (_deliveries.IsFull ? _deliveries.WaitForRoomAsync(cancellationToken) : _journal!.WaitForRoomAsync(cancellationToken)).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Cancelled (the server is stopping): the message was never appended.
                pending.Return();
                throw;
            }
        }

        return refused;
    }

    /// <summary>On the journal's thread, in id order: the message is durable (or refused); hand it to delivery, keeping the order.</summary>
    private void OnCommitted(JournalEntry entry, Exception? error, object? state)
    {
        var pending = (PendingMessage)state!;
        pending.Entry = entry;
        pending.Error = error;
        _deliveries.Enqueue(pending);
    }

    /// <summary>
    /// On <see cref="DeliveryQueue"/>, in id order: the <c>user_message</c> is encoded once — its
    /// <c>history</c> form kept in the room's ring, the whole event broadcast to the room as one
    /// pooled frame — then the sender gets its ack; or, when the disk refused the message, an error.
    /// </summary>
    private void Deliver(PendingMessage pending)
    {
        Session session = pending.Session;
        try
        {
            _options.BeforeDelivery?.Invoke();
            if (pending.Error is not null)
            {
                // The disk refused it (the journal logs and counts that, and retries the disk). Not
                // the peer's fault: sent without touching its error budget.
                ChatMetrics.Errors.Add(1, new KeyValuePair<string, object?>("code", ErrorCodes.StorageFailed));
                session.Connection.Send(Events.Error(new ChatError(ErrorCodes.StorageFailed, "the message could not be stored; it was not delivered", "send_message", pending.Ref)));
                return;
            }

            Room room = pending.Room;
            long id = pending.Entry.Id;
            Span<byte> delivery = Events.UserMessage(room, session.UserUtf8, pending.Content, id, pending.Entry.Timestamp, out int historyStart);
            room.AddHistory(id, delivery[historyStart..], FirstRetainedId);
            delivery[historyStart] = (byte)','; // {"_et":"user_message","r":ROOM + ,"u":…}
            int recipients = room.Group.Broadcast(delivery);
            ChatMetrics.MessagesDelivered.Add(recipients);
            session.Connection.Send(Events.MessageAck(room, id, pending.Ref));
        }
        catch (Exception ex)
        {
            // A fault of ours: the other deliveries must go on. Logged (rate-limited) with the session it failed.
            if (_faultLogLimiter.TryTake(out long suppressed))
            {
                Log.CommandFailed(_logger, session.Id, session.Connection.RemoteEndPoint, "send_message", suppressed, ex);
            }
        }
        finally
        {
            session.EndCommit();
            pending.Return();
        }
    }
}
