using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Parley.WebSockets.Internal;

/// <summary>The XOR mask of RFC 6455 section 5.3, eight bytes at a time.</summary>
internal static class Masking
{
    /// <summary>
    /// Writes <paramref name="source"/> XOR the key into <paramref name="destination"/> (which may
    /// be the same memory). <paramref name="key"/> is the 4 key bytes read little-endian;
    /// <paramref name="offset"/> is where in the key the first byte falls (0–3), advanced past
    /// the bytes written so the next piece of the same frame continues from there.
    /// </summary>
    public static void Apply(ReadOnlySpan<byte> source, Span<byte> destination, uint key, ref int offset)
    {
        int length = source.Length;
        if (length == 0)
        {
            return;
        }

        // Rotate the key so that byte 0 of the rotated key applies to source[0].
        uint rotated = BitOperations.RotateRight(key, 8 * (offset & 3));
        int i = 0;
        if (length >= 8)
        {
            ulong wide = rotated | ((ulong)rotated << 32);
            ReadOnlySpan<ulong> words = MemoryMarshal.Cast<byte, ulong>(source[..(length & ~7)]);
            Span<ulong> output = MemoryMarshal.Cast<byte, ulong>(destination[..(length & ~7)]);
            if (!BitConverter.IsLittleEndian)
            {
                wide = BinaryPrimitives.ReverseEndianness(wide);
            }

            for (int w = 0; w < words.Length; w++)
            {
                output[w] = words[w] ^ wide;
            }

            i = length & ~7;
        }

        for (; i < length; i++)
        {
            destination[i] = (byte)(source[i] ^ (byte)(rotated >> (8 * (i & 3))));
        }

        offset = (offset + length) & 3;
    }
}
