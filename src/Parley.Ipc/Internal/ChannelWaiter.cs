namespace Parley.Ipc;

/// <summary>
/// The stream transport's blocking waits, off the thread pool: one thread per connection sleeps
/// on the channel's futex while the receive loop waits for input and/or the send loop waits for
/// room, and completes their tasks. A futex wait blocks a thread, and pool threads must not
/// block; one thread per shared-memory connection is the price (such connections are few: one
/// per process pair).
/// </summary>
internal sealed class ChannelWaiter : IDisposable
{
    private readonly IpcChannel _channel;
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _requests = new(0);
    private readonly Thread _thread;
    private TaskCompletionSource? _input;
    private TaskCompletionSource? _room;
    private volatile bool _disposed;
    private int _sleeping; // 1 from before the wait thread reads what is pending until it is awake again

    public ChannelWaiter(IpcChannel channel)
    {
        _channel = channel;
        _thread = new Thread(Run) { IsBackground = true, Name = "parley-ipc-wait" };
        _thread.Start();
    }

    public Task WaitForInputAsync() => Request(ref _input);

    public Task WaitForRoomAsync() => Request(ref _room);

    private Task Request(ref TaskCompletionSource? slot)
    {
        TaskCompletionSource source;
        lock (_lock)
        {
            if (_disposed)
            {
                return Task.CompletedTask; // the caller's next attempt fails on the closed channel
            }

            source = slot ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        _requests.Release();
        Interlocked.MemoryBarrier(); // the slot store above before the load below (the thread does the reverse)
        if (Volatile.Read(ref _sleeping) != 0)
        {
            // Asleep for the other condition only (its flag for this one is not armed, so the
            // peer would not wake it for this): wake it to re-arm with both.
            _channel.WakeSelf();
        }

        return source.Task;
    }

    private void Run()
    {
        while (!_disposed)
        {
            _requests.Wait();
            while (!_disposed)
            {
                // Announce, then take the event count, then look at what is pending: a request
                // that this look misses saw the announcement and bumped the count, so the
                // sleep below returns at once.
                Interlocked.Exchange(ref _sleeping, 1);
                int sequence = _channel.EventSequence();
                bool input;
                bool room;
                lock (_lock)
                {
                    input = _input is not null;
                    room = _room is not null;
                }

                if (!input && !room)
                {
                    Volatile.Write(ref _sleeping, 0);
                    break;
                }

                if (input && _channel.HasInput())
                {
                    Complete(ref _input);
                }
                else if (room && _channel.HasRoom())
                {
                    Complete(ref _room);
                }
                else
                {
                    _channel.SleepUntilSignalled(input, room, sequence);
                }

                Volatile.Write(ref _sleeping, 0);
            }
        }

        // Stopped: let anyone still waiting retry and find the channel closed.
        Complete(ref _input);
        Complete(ref _room);
    }

    private void Complete(ref TaskCompletionSource? slot)
    {
        TaskCompletionSource? source;
        lock (_lock)
        {
            source = slot;
            slot = null;
        }

        source?.TrySetResult();
    }

    /// <summary>Stops the thread; the channel must already be closed (so a sleeping wait returns).</summary>
    public void Dispose()
    {
        _disposed = true;
        _requests.Release();
    }
}
