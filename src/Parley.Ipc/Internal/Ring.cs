using System.Numerics;

namespace Parley.Ipc;

/// <summary>
/// Record format shared by <see cref="RingWriter"/> and <see cref="RingReader"/>: an 8-byte
/// header (low 32 bits: payload length; high 32 bits: the lap tag) then the payload, padded to
/// 8 bytes. Positions are 64-bit byte counts that never wrap; a record at position p carries
/// tag <c>(p / capacity) + 1</c>. The consumer needs no head counter: the header itself is the
/// commit. Before publishing a record the producer zeroes the header slot after it (it keeps 8
/// bytes of room for that), so the slot where the consumer waits always reads 0 until the next
/// record lands — never a stale byte of an older lap's payload. A header that is neither 0 nor
/// tagged for the current lap is corruption.
/// </summary>
/// <remarks>
/// Memory ordering: the producer writes the payload, then the header with a release store
/// (<see cref="Volatile.Write(ref ulong, ulong)"/>); the consumer reads the header with an
/// acquire load and only then the payload. The consumer publishes its position (the tail) with
/// a release store after it has finished with the bytes; the producer reads the tail with an
/// acquire load before reusing them. Aligned 8-byte loads and stores are single-copy atomic on
/// x64 and arm64, so a header is never seen torn. A wrap marker is published after the record
/// that follows it at the next lap's start, so a consumer that follows the marker finds that
/// record complete.
/// </remarks>
internal static class Ring
{
    public const int HeaderSize = 8;
    public const uint WrapLength = uint.MaxValue; // "nothing more on this lap: continue at the next lap's start"

    public static int RecordSize(int payloadLength) => (HeaderSize + payloadLength + 7) & ~7;

    /// <summary>The largest payload: half the ring, so a record always fits after a wrap marker once the reader catches up.</summary>
    public static int MaxPayload(int capacity) => capacity / 2 - HeaderSize;

    public static uint Tag(ulong position, int capacityLog2) => (uint)(position >> capacityLog2) + 1;

    public static void ValidateCapacity(int capacity)
    {
        if (capacity < 4096 || capacity > (1 << 30) || !BitOperations.IsPow2(capacity))
        {
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "The ring capacity must be a power of two from 4 KiB to 1 GiB.");
        }
    }
}
