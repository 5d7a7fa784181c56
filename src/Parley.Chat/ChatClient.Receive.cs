using System.Buffers;

namespace Parley.Chat;

public sealed partial class ChatClient
{
    /// <summary>Reads events until the connection ends; then fails what is pending and raises <see cref="Disconnected"/>.</summary>
    private async Task ReceiveAsync()
    {
        await Task.Yield(); // the caller goes on to send its first request
        ChatConnectionClosedException? failure = null;
        try
        {
            await foreach (ReadOnlySequence<byte> line in _connection.ReadMessagesAsync().ConfigureAwait(false))
            {
                if (!ChatEventReader.TryRead(line, out ChatEvent? chatEvent, out string? error))
                {
                    failure = Violation($"the server sent a line that is not a chat event ({error})");
                    break;
                }

                if (!TryDispatch(chatEvent, out Action? raise, out string? violation))
                {
                    failure = Violation(violation);
                    break;
                }

                if (raise is not null && !TryRaise(raise, out failure))
                {
                    break;
                }
            }
        }
        catch (IOException)
        {
            // A reset or a transport failure: the connection's close reason says which.
        }

        if (failure is not null)
        {
            _connection.Abort(failure.Reason, failure);
        }

        bool clean;
        lock (_lock)
        {
            clean = _quitting && _failure is null && failure is null;
            failure ??= _failure ?? Closed("the server closed it");
            _closedCleanly = clean;
        }

        Fail(failure);
        Action<ChatConnectionClosedException?>? disconnected = Disconnected;
        if (disconnected is not null)
        {
            try
            {
                disconnected(clean ? null : failure);
            }
            catch (Exception ex)
            {
                // The client is done already; a failing last handler has nothing left to close.
                ClientLog.HandlerFailed(_logger, _connection, ex);
            }
        }
    }

    private ChatConnectionClosedException Violation(string problem)
    {
        ClientLog.ProtocolViolation(_logger, _connection, problem);
        return new ChatConnectionClosedException($"The chat server broke the protocol: {problem}; the connection is closed.", CloseReason.ProtocolError);
    }

    /// <summary>Runs an event handler on the receive loop; a handler that throws closes the client.</summary>
    private bool TryRaise(Action raise, out ChatConnectionClosedException? failure)
    {
        try
        {
            raise();
            failure = null;
            return true;
        }
        catch (Exception ex)
        {
            ClientLog.HandlerFailed(_logger, _connection, ex);
            failure = new ChatConnectionClosedException($"A {nameof(ChatClient)} event handler threw; the connection is closed.", CloseReason.ApplicationError, innerException: ex);
            return false;
        }
    }

    /// <summary>
    /// Matches an event with the request it answers, or finds the handler it goes to. False when
    /// the server sent what no request asked for: answers are matched by order, so one the client
    /// cannot place means it no longer knows which answer is whose.
    /// </summary>
    private bool TryDispatch(ChatEvent chatEvent, out Action? raise, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? violation)
    {
        raise = null;
        violation = null;
        lock (_lock)
        {
            switch (chatEvent)
            {
                case UserMessageEvent message:
                    raise = MessageReceived is { } onMessage ? () => onMessage(message.Message) : null;
                    return true;
                case MessageAckEvent ack:
                    if (!TryTakeSend(ack.Ref, out PendingRequest? sent))
                    {
                        violation = $"an acknowledgement of {(ack.Ref is { } r ? $"ref {r}" : "a message")} that is not in flight";
                        return false;
                    }

                    Answer(sent, ack);
                    return true;
                case ErrorEvent error:
                    return DispatchError(error, out raise);
                case RoomParticipationEvent participation:
                    if (!participation.Joined && participation.User == _session?.User
                        && TryTakeReply(ChatCommandType.LeaveRoom, participation.Room, out PendingRequest? leave))
                    {
                        Answer(leave, participation);
                        return true;
                    }

                    raise = PresenceChanged is { } onPresence ? () => onPresence(participation) : null;
                    return true;
                case LoginSuccessfulEvent login:
                    if (TryTakeReply(ChatCommandType.Login, null, out PendingRequest? loggingIn))
                    {
                        _session = login;
                        Answer(loggingIn, login);
                        return true;
                    }

                    if (_session is null)
                    {
                        _session = login; // an open server's greeting
                        return true;
                    }

                    violation = "a second login_successful";
                    return false;
                case UnknownEvent unknown:
                    ClientLog.UnknownEvent(_logger, _connection, unknown.Name);
                    return true;
                default:
                    (ChatCommandType asked, string? room) = chatEvent switch
                    {
                        UserJoinedRoomEvent joined => (ChatCommandType.JoinRoom, joined.Room),
                        RoomsEvent => (ChatCommandType.ListRooms, null),
                        RoomUsersEvent users => (ChatCommandType.ListUsers, users.Room),
                        HistoryEvent history => (ChatCommandType.History, history.Room),
                        _ => (ChatCommandType.Ping, (string?)null),
                    };
                    if (!TryTakeReply(asked, room, out PendingRequest? request))
                    {
                        violation = $"a {ChatProtocol.EventName(chatEvent.Type)} event that answers no request in flight";
                        return false;
                    }

                    Answer(request, chatEvent);
                    return true;
            }
        }
    }

    /// <summary>An error answers the send its ref names, or the oldest request of the command it names; else it is the server's own word.</summary>
    private bool DispatchError(ErrorEvent error, out Action? raise)
    {
        raise = null;
        ChatError e = error.Error;
        if (e.Ref is { } reference && _sends.Remove(reference, out PendingRequest? send))
        {
            Answer(send, error);
            return true;
        }

        if (e.Ref is null && e.Command == "send_message" && TryTakeSend(null, out send))
        {
            Answer(send, error); // a server that echoes no ref: its oldest send is the best guess
            return true;
        }

        if (e.Command is { } command && e.Command != "send_message" && _replies.TryPeek(out PendingRequest? head) && head.Command.Name == command)
        {
            Answer(_replies.Dequeue(), error);
            return true;
        }

        _lastServerError = e;
        raise = ErrorReceived is { } onError ? () => onError(e) : null;
        return true;
    }

    /// <summary>The send <paramref name="reference"/> names, or (a server that echoes no ref) the oldest one.</summary>
    private bool TryTakeSend(long? reference, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out PendingRequest? send)
    {
        if (reference is { } r)
        {
            return _sends.Remove(r, out send);
        }

        send = null;
        if (_sends.Count == 0)
        {
            return false;
        }

        long oldest = _sends.Keys.Min();
        return _sends.Remove(oldest, out send);
    }

    /// <summary>The oldest request in flight, if it is a <paramref name="type"/> (for <paramref name="room"/>, when given).</summary>
    private bool TryTakeReply(ChatCommandType type, string? room, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out PendingRequest? request)
    {
        if (_replies.TryPeek(out request) && request.Command.Type == type && (room is null || request.Command.Room == room))
        {
            _replies.Dequeue();
            return true;
        }

        request = null;
        return false;
    }
}
