namespace Parley.Ipc;

/// <summary>How a side waits for data (or for room to write).</summary>
public enum IpcWaitStrategy
{
    /// <summary>Spin briefly (<see cref="IpcOptions.SpinDuration"/>), then sleep on a futex until the peer wakes it. Default.</summary>
    Hybrid,

    /// <summary>Check, then poll without ever sleeping: the lowest latency, one core busy per waiting side.</summary>
    Spin,

    /// <summary>Sleep on a futex as soon as there is nothing to do: no CPU while idle, a system call per wake-up.</summary>
    Block,
}
