using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography;

namespace Parley.Udp;

/// <summary>
/// Stateless handshake cookies: <c>u32 time slot · 16 bytes of HMAC-SHA256(secret, slot · address · port)</c>.
/// The server answers a Hello with a cookie and keeps nothing; a Connect carrying a cookie that
/// verifies for its source address proves the client can receive at that address, so spoofed
/// sources cannot make the server allocate sessions. Thread-safe.
/// </summary>
internal sealed class CookieJar(TimeProvider time, TimeSpan lifetime)
{
    public const int Size = 4 + 16;

    private readonly byte[] _secret = RandomNumberGenerator.GetBytes(32);
    private readonly long _slotTicks = Math.Max(1, lifetime.Ticks / 2);

    /// <summary>Writes a cookie for <paramref name="peer"/> into <paramref name="destination"/>.</summary>
    public void Create(IPEndPoint peer, Span<byte> destination)
    {
        uint slot = CurrentSlot();
        BinaryPrimitives.WriteUInt32LittleEndian(destination, slot);
        Mac(slot, peer, destination.Slice(4, 16));
    }

    /// <summary>True when <paramref name="cookie"/> was made by this jar for <paramref name="peer"/> within the lifetime.</summary>
    public bool IsValid(IPEndPoint peer, ReadOnlySpan<byte> cookie)
    {
        if (cookie.Length != Size)
        {
            return false;
        }

        uint slot = BinaryPrimitives.ReadUInt32LittleEndian(cookie);
        uint now = CurrentSlot();
        if (slot > now || now - slot > 1)
        {
            return false; // from the future, or older than the lifetime
        }

        Span<byte> expected = stackalloc byte[16];
        Mac(slot, peer, expected);
        return CryptographicOperations.FixedTimeEquals(expected, cookie[4..]);
    }

    private uint CurrentSlot() => (uint)(time.GetUtcNow().UtcTicks / _slotTicks);

    private void Mac(uint slot, IPEndPoint peer, Span<byte> destination)
    {
        Span<byte> input = stackalloc byte[4 + 16 + 2];
        BinaryPrimitives.WriteUInt32LittleEndian(input, slot);
        input[4..20].Clear();
        peer.Address.TryWriteBytes(input[4..20], out _);
        BinaryPrimitives.WriteUInt16LittleEndian(input[20..], (ushort)peer.Port);
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(_secret, input, mac);
        mac[..16].CopyTo(destination);
    }
}
