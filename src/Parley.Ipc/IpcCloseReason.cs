namespace Parley.Ipc;

/// <summary>Why an <see cref="IpcChannel"/> ended.</summary>
public enum IpcCloseReason
{
    /// <summary>Still open.</summary>
    None,

    /// <summary>This side closed it (<see cref="IpcChannel.Dispose"/>).</summary>
    LocalClose,

    /// <summary>The peer closed it on purpose after its last message.</summary>
    PeerClosed,

    /// <summary>The peer process went away without closing (it exited, crashed or was killed).</summary>
    PeerDied,

    /// <summary>The shared region held something impossible (a corrupt length): a protocol error.</summary>
    ProtocolError,
}
