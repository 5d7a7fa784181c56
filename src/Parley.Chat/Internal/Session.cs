namespace Parley.Chat;

/// <summary>
/// One connection's state. Its command loop is the only writer of <see cref="Rooms"/>,
/// <see cref="User"/> and the counters; the journal's thread only sends on <see cref="Connection"/>.
/// </summary>
internal sealed class Session(Connection connection, string id, TimeProvider time, int commandsPerSecond)
{
    private readonly Queue<long> _errorTimes = new();
    private double _tokens = commandsPerSecond;
    private long _lastRefill = time.GetTimestamp();

    public Connection Connection { get; } = connection;

    public string Id { get; } = id;

    /// <summary>Who the session is logged in as; set once.</summary>
    public string? User
    {
        get;
        set
        {
            field = value;
            UserUtf8 = value is null ? [] : System.Text.Encoding.UTF8.GetBytes(value);
        }
    }

    /// <summary><see cref="User"/> as journal records and events carry it, encoded once.</summary>
    public byte[] UserUtf8 { get; private set; } = [];

    public HashSet<Room> Rooms { get; } = [];

    private SemaphoreSlim? _publishSlots;

    /// <summary>In a cluster: the confirmation of the session's last send (the next one's ack waits for it).</summary>
    public Task LastConfirmation { get; set; } = Task.CompletedTask;

    /// <summary>In a cluster: the session's sends in flight to the backplane, at most <paramref name="limit"/> (made on first use).</summary>
    public SemaphoreSlim PublishSlots(int limit) => _publishSlots ??= new SemaphoreSlim(limit, limit);

    /// <summary>Whether this session's bad input was logged already (it is, once).</summary>
    public bool BadInputLogged { get; set; }

    // The login deadline: 0 waiting, 1 met (disarmed), 2 timed out, 3 a login is being checked
    // (the deadline waits for its outcome), 4 the deadline passed during that check.
    private int _loginState;

    /// <summary>The session logged in (or sent its first command): the login timeout no longer applies.</summary>
    public void DisarmLoginTimeout() => Volatile.Write(ref _loginState, 1);

    /// <summary>A login arrived in time: the deadline waits while its password is checked. False
    /// when the deadline had passed already (the connection is closing).</summary>
    public bool BeginLoginCheck() => Interlocked.CompareExchange(ref _loginState, 3, 0) is 0 or 1 or 3;

    /// <summary>The login's outcome: success disarms the deadline; a failure resumes it, and if
    /// it passed meanwhile the session ends now.</summary>
    public void EndLoginCheck(bool success)
    {
        if (success)
        {
            Volatile.Write(ref _loginState, 1);
        }
        else if (Interlocked.CompareExchange(ref _loginState, 0, 3) == 4 && Interlocked.CompareExchange(ref _loginState, 2, 4) == 4)
        {
            TimeOut();
        }
    }

    /// <summary>The login timer fired: unless the deadline was met (or a login is being checked), say why and close.</summary>
    public void OnLoginTimeout()
    {
        int state = Interlocked.CompareExchange(ref _loginState, 2, 0);
        if (state == 0)
        {
            TimeOut();
        }
        else if (state == 3)
        {
            Interlocked.CompareExchange(ref _loginState, 4, 3);
        }
    }

    private void TimeOut()
    {
        Connection.Send(Events.Error(new ChatError(ErrorCodes.LoginTimeout, "no login within the time allowed; closing")));
        _ = Connection.CloseAsync(CloseReason.ProtocolError);
    }

    private readonly Lock _commitLock = new();
    private int _uncommitted;
    private TaskCompletionSource? _allCommitted;

    /// <summary>A message of this session goes to the journal (before it is appended: the commit may come at once).</summary>
    public void BeginCommit()
    {
        lock (_commitLock)
        {
            _uncommitted++;
        }
    }

    /// <summary>The journal is done with one of this session's messages (stored or failed); on the journal's thread.</summary>
    public void EndCommit()
    {
        TaskCompletionSource? done = null;
        lock (_commitLock)
        {
            if (--_uncommitted == 0)
            {
                done = _allCommitted;
                _allCommitted = null;
            }
        }

        done?.TrySetResult();
    }

    /// <summary>Completes when every message this session sent so far is stored (or failed) and
    /// its acknowledgement queued: later commands see them, and a closing session loses no ack.</summary>
    public Task WhenCommittedAsync()
    {
        lock (_commitLock)
        {
            if (_uncommitted == 0)
            {
                return Task.CompletedTask;
            }

            _allCommitted ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _allCommitted.Task;
        }
    }

    /// <summary>Records a refused command; true when the connection passed its error budget for the last minute.</summary>
    public bool RecordError(int maxPerMinute)
    {
        long now = time.GetTimestamp();
        _errorTimes.Enqueue(now);
        while (_errorTimes.Count > 0 && time.GetElapsedTime(_errorTimes.Peek(), now) > TimeSpan.FromMinutes(1))
        {
            _errorTimes.Dequeue();
        }

        return _errorTimes.Count > maxPerMinute;
    }

    /// <summary>Takes one command token; returns how long to wait first when the bucket is empty.</summary>
    public TimeSpan TakeCommandToken()
    {
        long now = time.GetTimestamp();
        _tokens = Math.Min(commandsPerSecond, _tokens + (time.GetElapsedTime(_lastRefill, now).TotalSeconds * commandsPerSecond));
        _lastRefill = now;
        _tokens -= 1;
        if (_tokens >= 0)
        {
            return TimeSpan.Zero;
        }

        // Over the rate: wait until this command's token and a tenth of a second's worth more are
        // back, not one command's worth: one timer per slice instead of one per command (each
        // allocates, and at 1000 a second would be at the timer's resolution). The rate is the same.
        double slice = Math.Max(1, commandsPerSecond / 10.0) - 1;
        return TimeSpan.FromSeconds((-_tokens + slice) / commandsPerSecond);
    }
}
