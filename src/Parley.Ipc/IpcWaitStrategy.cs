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

    /// <summary>
    /// Spin briefly (<see cref="IpcOptions.SpinDuration"/>), then poll yielding the core between
    /// polls (<see cref="Thread.Yield"/>), never sleeping: for more busy threads than cores, where a
    /// pure spin would keep the thread that must produce the data off its core.
    /// </summary>
    Yield,
}
