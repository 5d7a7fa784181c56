using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Parley;

/// <summary>
/// CRC32C (Castagnoli), as in iSCSI, ext4 and SCTP: the checksum of journal records and UDP
/// packets. Uses the CPU's CRC32 instruction through <see cref="BitOperations.Crc32C(uint, ulong)"/>
/// (SSE4.2, ARMv8) with the runtime's software fallback elsewhere. Not public API: each
/// assembly that needs it (the core, the journal, UDP) compiles this file in as its own
/// internal type, so none of them depends on another for a checksum.
/// </summary>
internal static class Crc32C
{
    /// <summary>The CRC32C of <paramref name="data"/> (standard initial value and final xor: "123456789" gives 0xE3069283).</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => ~Append(0xFFFF_FFFFu, data);

    /// <summary>The CRC32C of <paramref name="first"/> followed by <paramref name="second"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second) => ~Append(Append(0xFFFF_FFFFu, first), second);

    private static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        ReadOnlySpan<ulong> words = MemoryMarshal.Cast<byte, ulong>(data);
        foreach (ulong word in words)
        {
            crc = BitOperations.Crc32C(crc, BitConverter.IsLittleEndian ? word : BinaryPrimitives.ReverseEndianness(word));
        }

        foreach (byte b in data[(words.Length * sizeof(ulong))..])
        {
            crc = BitOperations.Crc32C(crc, b);
        }

        return crc;
    }
}
