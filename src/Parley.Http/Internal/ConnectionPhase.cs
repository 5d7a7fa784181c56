namespace Parley.Http;

/// <summary>Where a connection is, for the heartbeat's timeouts.</summary>
internal enum ConnectionPhase
{
    /// <summary>Running this server's code: no timeout applies.</summary>
    Busy,

    /// <summary>Between requests, holding no buffer: the keep-alive timeout.</summary>
    Idle,

    /// <summary>A request head has begun and is not complete: the request head timeout, then 408.</summary>
    Head,

    /// <summary>Reading past a request body: the same timeout, between pieces.</summary>
    Body,

    /// <summary>Waiting for the peer to take a response: the send timeout, then an abort.</summary>
    Sending,

    /// <summary>The heartbeat is answering 408.</summary>
    TimedOut,

    /// <summary>Closed for sending, dropping what still arrives: the linger timeout.</summary>
    Lingering,

    /// <summary>Over.</summary>
    Closed,
}
