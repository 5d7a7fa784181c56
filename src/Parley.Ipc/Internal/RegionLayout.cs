namespace Parley.Ipc;

/// <summary>
/// Byte offsets in a connection's shared region (docs/wire-formats.md, "Shared-memory region").
/// Every block that one side writes often sits on its own 128-byte block, so the two sides
/// never write the same cache line (128, not 64: adjacent-line prefetch pairs lines).
/// </summary>
internal static class RegionLayout
{
    public const ulong Magic = 0x31435049594C5250; // "PRLYIPC1" in little-endian byte order
    public const int Version = 1;

    // Header (written by the server before the client maps it; read-only afterwards).
    public const int MagicOffset = 0;
    public const int VersionOffset = 8;
    public const int CapacityOffset = 12;
    public const int ServerPidOffset = 16;
    public const int ClientPidOffset = 20;

    // One control block per side (0 = server, 1 = client): the side's wake-up word and flags.
    public const int SideBlockOffset = 128;
    public const int SideBlockSize = 128;
    public const int EventOffset = 0;          // int: futex word, bumped by the peer to wake this side
    public const int WaitingForDataOffset = 4; // int: 1 while this side may sleep waiting for its inbound ring
    public const int WaitingForSpaceOffset = 8; // int: 1 while this side may sleep waiting for room in its outbound ring
    public const int MaySleepOffset = 12;      // int: 1 when this side's wait strategy can block (peers then fence and check)
    public const int ClosedOffset = 16;        // int: 1 once this side closed on purpose (after its last write)

    // Consumer positions: ring r's tail is written by the side that reads ring r.
    public const int TailBlockOffset = SideBlockOffset + 2 * SideBlockSize; // 384
    public const int TailBlockSize = 128;

    public const int DataOffset = 4096;

    /// <summary>Ring 0 carries client → server, ring 1 server → client; side s reads ring s.</summary>
    public static int RingDataOffset(int ring, int capacity) => DataOffset + ring * capacity;

    public static int SideOffset(int side) => SideBlockOffset + side * SideBlockSize;

    public static int TailOffset(int ring) => TailBlockOffset + ring * TailBlockSize;

    public static long RegionSize(int capacity) => DataOffset + 2L * capacity;
}
