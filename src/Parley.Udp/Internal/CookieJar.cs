using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography;

namespace Parley.Udp;

/// <summary>
/// Stateless handshake cookies: <c>u32 time slot · 16 bytes of HMAC-SHA256(secret, slot · address
/// · port · session id · public key)</c>. The server answers a Hello with a cookie and keeps
/// nothing; a Connect carrying a cookie that verifies for its source address, session id and
/// public key proves the client can receive at that address and asked for this very handshake:
/// spoofed sources cannot make the server allocate sessions, and someone who saw a cookie in
/// clear cannot use it for other sessions (other ids or keys) from the victim's address.
/// Thread-safe.
/// </summary>
internal sealed class CookieJar(TimeProvider time, TimeSpan lifetime)
{
    public const int Size = 4 + 16;

    private readonly byte[] _secret = RandomNumberGenerator.GetBytes(32);
    private readonly long _slotTicks = Math.Max(1, lifetime.Ticks / 2);

    /// <summary>Writes a cookie for <paramref name="peer"/>'s handshake <paramref name="sessionId"/> with <paramref name="publicKey"/> into <paramref name="destination"/>.</summary>
    public void Create(IPEndPoint peer, uint sessionId, ReadOnlySpan<byte> publicKey, Span<byte> destination)
    {
        uint slot = CurrentSlot();
        BinaryPrimitives.WriteUInt32LittleEndian(destination, slot);
        Mac(slot, peer, sessionId, publicKey, destination.Slice(4, 16));
    }

    /// <summary>True when <paramref name="cookie"/> was made by this jar for <paramref name="peer"/>, <paramref name="sessionId"/> and <paramref name="publicKey"/> within the lifetime.</summary>
    public bool IsValid(IPEndPoint peer, uint sessionId, ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> cookie)
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
        Mac(slot, peer, sessionId, publicKey, expected);
        return CryptographicOperations.FixedTimeEquals(expected, cookie[4..]);
    }

    private uint CurrentSlot() => (uint)(time.GetUtcNow().UtcTicks / _slotTicks);

    private void Mac(uint slot, IPEndPoint peer, uint sessionId, ReadOnlySpan<byte> publicKey, Span<byte> destination)
    {
        Span<byte> input = stackalloc byte[4 + 16 + 2 + 4 + PacketProtection.PublicKeySize];
        input.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(input, slot);
        peer.Address.TryWriteBytes(input[4..20], out _);
        BinaryPrimitives.WriteUInt16LittleEndian(input[20..], (ushort)peer.Port);
        BinaryPrimitives.WriteUInt32LittleEndian(input[22..], sessionId);
        publicKey[..Math.Min(publicKey.Length, PacketProtection.PublicKeySize)].CopyTo(input[26..]);
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(_secret, input, mac);
        mac[..16].CopyTo(destination);
    }
}
