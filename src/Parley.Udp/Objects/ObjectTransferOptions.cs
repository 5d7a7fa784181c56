namespace Parley.Udp.Objects;

/// <summary>Settings of large-object transfers; both sides must use the same <see cref="Channel"/>.</summary>
public sealed class ObjectTransferOptions
{
    /// <summary>The channel the transfer's messages use (reliable unordered). Default 7, the last of the default 8; keep application messages off it.</summary>
    public byte Channel { get; set; } = 7;

    /// <summary>Bytes per block (one message each). Default 64 KiB; at most the host's maximum message size less 13 bytes.</summary>
    public int BlockSize { get; set; } = 64 * 1024;

    /// <summary>Blocks the sender may have sent that the receiver has not yet written. Default 64 (4 MiB at the default block size): the receiver's write queue is bounded by it.</summary>
    public int MaxBlocksInFlight { get; set; } = 64;

    /// <summary>Largest object a receiver accepts. Default 64 GiB.</summary>
    public long MaxObjectBytes { get; set; } = 64L * 1024 * 1024 * 1024;

    /// <summary>Transfers a receiver runs at once; offers past it are refused. Default 64.</summary>
    public int MaxConcurrentTransfers { get; set; } = 64;

    /// <summary>How long the sender waits for the receiver's answer to its offer, and for each sign of progress. Default 30 s.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>How far a transfer is.</summary>
/// <param name="BytesDone">Bytes the receiver holds (written now or kept from an earlier attempt).</param>
/// <param name="Length">The object's length.</param>
/// <param name="BlocksResumed">Blocks the receiver already had from an earlier attempt (not sent again).</param>
public readonly record struct ObjectProgress(long BytesDone, long Length, int BlocksResumed);

/// <summary>A large-object transfer that could not complete (refused, the peer left, or no progress within the timeout).</summary>
public sealed class UdpObjectTransferException(string message) : Exception(message);
