namespace Parley.Chat;

public sealed partial class ChatClient
{
    // Guarded by _lock. Answers to every command but send_message come in the order the
    // commands were sent (the server carries them out one at a time, after the messages sent
    // before them are stored), so they are matched in that order; sends are pipelined and
    // matched by the ref the server echoes.
    private readonly Queue<PendingRequest> _replies = new();
    private readonly Dictionary<long, PendingRequest> _sends = [];
    private long _nextRef;
    private bool _quitting;
    private bool _closedCleanly;
    private ChatConnectionClosedException? _failure;
    private LoginSuccessfulEvent? _session;
    private ChatError? _lastServerError;

    /// <summary>A request waiting for its answer.</summary>
    private sealed class PendingRequest(ChatCommand command)
    {
        public ChatCommand Command { get; } = command;

        public TaskCompletionSource<ChatEvent> Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private async Task<ChatEvent> RequestAsync(ChatCommand command, CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        if (!_slots.Wait(0, CancellationToken.None))
        {
            await WaitForPlaceAsync(command, cancellationToken).ConfigureAwait(false);
        }

        PendingRequest pending;
        try
        {
            lock (_lock)
            {
                ThrowIfClosed();
                if (command.Type == ChatCommandType.SendMessage)
                {
                    command = command with { Ref = ++_nextRef };
                }

                pending = new PendingRequest(command);
                _buffer.ResetWrittenCount();
                ChatCommandWriter.Write(_buffer, command);
                SendStatus status = _connection.Send(_buffer.WrittenSpan);
                if (status != SendStatus.Queued)
                {
                    throw Closed($"the connection is {status}: {command.Name} was not sent");
                }

                // Registered under the lock that the receive loop takes to match an answer, so
                // even an answer that comes at once finds its request.
                if (command.Type == ChatCommandType.SendMessage)
                {
                    _sends.Add(command.Ref!.Value, pending);
                }
                else
                {
                    _replies.Enqueue(pending);
                }
            }
        }
        catch
        {
            _slots.Release();
            throw;
        }

        try
        {
            return await pending.Answer.Task.WaitAsync(_options.RequestTimeout, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            ClientLog.RequestTimedOut(_logger, _connection, command.Name, _options.RequestTimeout);
            var failure = new ChatConnectionClosedException(
                $"The chat server did not answer {command.Name} within {_options.RequestTimeout}; the connection is closed.", CloseReason.IdleTimeout);
            Fail(failure);
            _connection.Abort(CloseReason.IdleTimeout, failure);
            throw new TimeoutException(failure.Message, failure);
        }
    }

    /// <summary>
    /// Waits for one of the <see cref="ChatClientOptions.MaxPendingRequests"/> places, within the
    /// <see cref="ChatClientOptions.RequestTimeout"/>: the places are held by requests the server
    /// has not answered (cancelled ones too, until their answer comes), so a server that answers
    /// none of them within that time is hung — the connection is closed and every request fails.
    /// </summary>
    private async Task WaitForPlaceAsync(ChatCommand command, CancellationToken cancellationToken)
    {
        if (_options.RequestTimeout == Timeout.InfiniteTimeSpan)
        {
            await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
            return;
        }

        using var deadline = new CancellationTokenSource(_options.RequestTimeout, _options.TimeProvider);
        using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        try
        {
            await _slots.WaitAsync(either.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            ClientLog.RequestTimedOut(_logger, _connection, command.Name, _options.RequestTimeout);
            var failure = new ChatConnectionClosedException(
                $"The chat server answered none of {_options.MaxPendingRequests} pending requests within {_options.RequestTimeout} ({command.Name} waited for a place); the connection is closed.", CloseReason.IdleTimeout);
            Fail(failure);
            _connection.Abort(CloseReason.IdleTimeout, failure);
            throw new TimeoutException(failure.Message, failure);
        }
    }

    /// <summary>Throws when no request can be sent any more.</summary>
    private void ThrowIfClosed()
    {
        lock (_lock)
        {
            if (_failure is { } failure)
            {
                throw failure;
            }

            if (_quitting)
            {
                throw new ChatConnectionClosedException("The chat client is closing.", CloseReason.LocalClose);
            }
        }
    }

    private ChatConnectionClosedException Closed(string what) =>
        new($"The chat connection is closed ({_connection.CloseReason}): {what}.", _connection.CloseReason, _lastServerError);

    /// <summary>Records why the client is done (the first reason wins) and fails every pending request with it.</summary>
    private void Fail(ChatConnectionClosedException failure)
    {
        List<PendingRequest> pending;
        lock (_lock)
        {
            _failure ??= failure;
            failure = _failure;
            pending = [.. _replies, .. _sends.Values];
            _replies.Clear();
            _sends.Clear();
        }

        foreach (PendingRequest request in pending)
        {
            if (request.Answer.TrySetException(failure))
            {
                _slots.Release();
            }
        }
    }

    /// <summary>Completes a request taken out of its queue (under the lock) with its answer.</summary>
    private void Answer(PendingRequest request, ChatEvent answer)
    {
        if (answer is ErrorEvent error)
        {
            request.Answer.TrySetException(new ChatServerException(error.Error));
        }
        else
        {
            request.Answer.TrySetResult(answer);
        }

        _slots.Release();
    }
}
