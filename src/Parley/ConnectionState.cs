namespace Parley;

/// <summary>The life cycle of a <see cref="Connection"/>.</summary>
public enum ConnectionState
{
    /// <summary>Created, loops not yet started.</summary>
    Created,

    /// <summary>Receiving and sending.</summary>
    Open,

    /// <summary>Closing: no new sends are accepted; queued ones may still be flushed.</summary>
    Closing,

    /// <summary>Closed; <see cref="Connection.CloseReason"/> says why.</summary>
    Closed,
}
