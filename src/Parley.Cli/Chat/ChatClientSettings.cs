namespace Parley.Cli.Chat;

/// <summary>One connect attempt: the connection, or why there is none.</summary>
internal readonly record struct ConnectResult(Connection? Connection, string? Error);

/// <summary>How a chat session reaches its server and behaves, from the command line.</summary>
internal sealed record ChatClientSettings
{
    /// <summary>The server as people read it: <c>localhost:8080</c>, <c>ipc:chat</c>; with several
    /// (<c>--servers</c>), the one last connected to (the whole list before the first connection).</summary>
    public required string Target { get; set; }

    /// <summary>Opens one connection (TCP, TLS or shared memory); failures are values, with a reason for people.</summary>
    public required Func<CancellationToken, Task<ConnectResult>> Connect { get; init; }

    /// <summary><c>--user</c>: the account on a server requiring login. An open server names connections itself, so it is refused there.</summary>
    public string? User { get; init; }

    /// <summary>Scripts and pipes: one line per event, the password from the first input line, acknowledgements printed.</summary>
    public bool LineMode { get; init; }

    /// <summary><c>--reconnect-attempts</c>: tries after a lost connection before giving up (0: exit at once). Default <see cref="ReconnectSchedule.DefaultAttempts"/>.</summary>
    public int ReconnectAttempts { get; init; } = ReconnectSchedule.DefaultAttempts;

    /// <summary>Clock for back-off and reply timeouts.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}
