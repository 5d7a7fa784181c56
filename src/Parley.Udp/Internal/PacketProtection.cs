using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Parley.Udp;

/// <summary>
/// Authenticates and encrypts one session's packets (docs/udp.md, "Session security"). Each side
/// of the handshake brings an ephemeral ECDH P-256 key; the shared secret goes through
/// HKDF-SHA256, bound to both session ids and both public keys, into one secret per direction.
/// Every Data and Probe packet is sealed with AES-128-GCM: the 10-byte header is associated data,
/// the frames are encrypted, a 16-byte tag follows them. The nonce is the direction's IV xor the
/// 64-bit packet number, which only goes up, so no nonce repeats under a key. Keys change every
/// 2^22 packets each way (the next epoch's secret is derived from the last, as TLS 1.3's key
/// update does), inside AES-GCM's usage limit for packets up to 64 KiB (RFC 9001 §6.6: 2^23);
/// the epoch is the packet number shifted, so the two sides never have to agree on a switch.
/// Per packet nothing is allocated: one <see cref="AesGcm"/> per direction and epoch lives for
/// the session (the receiving side keeps the previous epoch's for late packets, and derives the
/// next one when a packet of it arrives). Not thread-safe: used under the host's lock.
/// </summary>
internal sealed class PacketProtection : IDisposable
{
    public const int TagSize = 16;

    /// <summary>A P-256 public key on the wire: SEC1 uncompressed, <c>0x04 · X · Y</c>.</summary>
    public const int PublicKeySize = 65;

    /// <summary>Packets per key epoch, as a shift of the packet number.</summary>
    public const int EpochShift = 22;

    private const int NonceSize = 12;
    private const int KeySize = 16;
    private const int SecretSize = 32;

    private DirectionKeys _send;
    private DirectionKeys _receive;
    private DirectionKeys? _receivePrevious;
    private DirectionKeys? _receiveNext;

    private PacketProtection(ReadOnlySpan<byte> sendSecret, ReadOnlySpan<byte> receiveSecret)
    {
        _send = new DirectionKeys(sendSecret, 0);
        _receive = new DirectionKeys(receiveSecret, 0);
    }

    /// <summary>A fresh ephemeral key pair for one handshake.</summary>
    public static ECDiffieHellman CreateKey() => ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);

    /// <summary>Writes <paramref name="key"/>'s public part as <see cref="PublicKeySize"/> bytes.</summary>
    public static void WritePublicKey(ECDiffieHellman key, Span<byte> destination)
    {
        ECParameters parameters = key.ExportParameters(includePrivateParameters: false);
        destination[0] = 0x04;
        parameters.Q.X.AsSpan().CopyTo(destination[1..33]);
        parameters.Q.Y.AsSpan().CopyTo(destination[33..65]);
    }

    /// <summary>
    /// The peer's public key imported (which checks it is a point on the curve), or null when it
    /// is not one. Cheaper than a key generation: an acceptor checks the key first, so a Connect
    /// with a bad key costs it no key pair.
    /// </summary>
    public static ECDiffieHellman? TryImportPublicKey(ReadOnlySpan<byte> publicKey)
    {
        if (publicKey.Length != PublicKeySize || publicKey[0] != 0x04)
        {
            return null;
        }

        try
        {
            var parameters = new ECParameters
            {
                Curve = ECCurve.NamedCurves.nistP256,
                Q = new ECPoint { X = publicKey[1..33].ToArray(), Y = publicKey[33..65].ToArray() },
            };
            return ECDiffieHellman.Create(parameters);
        }
        catch (CryptographicException)
        {
            return null; // not a valid point: the import refuses it, and the handshake packet is dropped and counted
        }
    }

    /// <summary>
    /// The session's protection from this side's key and the peer's public key, or null when the
    /// peer's key is not a point on the curve (a broken or hostile handshake; the caller drops it).
    /// </summary>
    public static PacketProtection? TryCreate(ECDiffieHellman own, ReadOnlySpan<byte> peerPublicKey, bool isInitiator, uint initiatorSessionId, uint acceptorSessionId, ReadOnlySpan<byte> initiatorPublicKey, ReadOnlySpan<byte> acceptorPublicKey)
    {
        using ECDiffieHellman? peer = TryImportPublicKey(peerPublicKey);
        return peer is null ? null : TryCreate(own, peer, isInitiator, initiatorSessionId, acceptorSessionId, initiatorPublicKey, acceptorPublicKey);
    }

    /// <summary>The session's protection from this side's key and the peer's imported key (see <see cref="TryImportPublicKey"/>), or null when the agreement fails.</summary>
    public static PacketProtection? TryCreate(ECDiffieHellman own, ECDiffieHellman peer, bool isInitiator, uint initiatorSessionId, uint acceptorSessionId, ReadOnlySpan<byte> initiatorPublicKey, ReadOnlySpan<byte> acceptorPublicKey)
    {
        byte[] shared;
        try
        {
            shared = own.DeriveRawSecretAgreement(peer.PublicKey);
        }
        catch (CryptographicException)
        {
            return null; // the platform refused the agreement: the handshake packet is dropped and counted
        }

        // The transcript binds the keys to this session: both ids and both public keys.
        Span<byte> transcript = stackalloc byte[4 + 4 + PublicKeySize + PublicKeySize];
        BinaryPrimitives.WriteUInt32LittleEndian(transcript, initiatorSessionId);
        BinaryPrimitives.WriteUInt32LittleEndian(transcript[4..], acceptorSessionId);
        initiatorPublicKey.CopyTo(transcript[8..]);
        acceptorPublicKey.CopyTo(transcript[(8 + PublicKeySize)..]);
        Span<byte> info = stackalloc byte[Labels.Direction + SHA256.HashSizeInBytes];
        SHA256.HashData(transcript, info[Labels.Direction..]);

        Span<byte> prk = stackalloc byte[SHA256.HashSizeInBytes];
        HKDF.Extract(HashAlgorithmName.SHA256, shared, "parley udp 3"u8, prk);
        CryptographicOperations.ZeroMemory(shared);

        Span<byte> initiatorToAcceptor = stackalloc byte[SecretSize];
        Span<byte> acceptorToInitiator = stackalloc byte[SecretSize];
        "parley i2a"u8.CopyTo(info);
        HKDF.Expand(HashAlgorithmName.SHA256, prk, initiatorToAcceptor, info);
        "parley a2i"u8.CopyTo(info);
        HKDF.Expand(HashAlgorithmName.SHA256, prk, acceptorToInitiator, info);
        var protection = isInitiator
            ? new PacketProtection(initiatorToAcceptor, acceptorToInitiator)
            : new PacketProtection(acceptorToInitiator, initiatorToAcceptor);
        CryptographicOperations.ZeroMemory(prk);
        CryptographicOperations.ZeroMemory(initiatorToAcceptor);
        CryptographicOperations.ZeroMemory(acceptorToInitiator);
        return protection;
    }

    /// <summary>
    /// Encrypts the <paramref name="payloadLength"/> bytes after the header of <paramref name="packet"/>
    /// in place and writes the tag after them; the header is authenticated, not encrypted.
    /// </summary>
    public void Seal(Span<byte> packet, int payloadLength, long packetNumber)
    {
        long epoch = packetNumber >> EpochShift;
        while (_send.Epoch < epoch)
        {
            DirectionKeys next = _send.DeriveNext();
            _send.Dispose();
            _send = next;
        }

        Span<byte> nonce = stackalloc byte[NonceSize];
        _send.WriteNonce(packetNumber, nonce);
        Span<byte> payload = packet.Slice(PacketCodec.HeaderSize, payloadLength);
        _send.Cipher.Encrypt(nonce, payload, payload, packet.Slice(PacketCodec.HeaderSize + payloadLength, TagSize), packet[..PacketCodec.HeaderSize]);
    }

    /// <summary>
    /// Checks and decrypts a received packet: <paramref name="sealedPayload"/> is the ciphertext
    /// and the tag; the frames go to <paramref name="plaintext"/>. False, with nothing changed but
    /// (at most) a derived next-epoch key, when the packet does not authenticate.
    /// </summary>
    public bool TryOpen(ReadOnlySpan<byte> header, ReadOnlySpan<byte> sealedPayload, long packetNumber, Span<byte> plaintext)
    {
        if (sealedPayload.Length < TagSize || packetNumber < 0)
        {
            return false;
        }

        long epoch = packetNumber >> EpochShift;
        DirectionKeys? keys = epoch == _receive.Epoch ? _receive
            : epoch == _receive.Epoch - 1 ? _receivePrevious
            : epoch == _receive.Epoch + 1 ? _receiveNext ??= _receive.DeriveNext()
            : null;
        if (keys is null)
        {
            return false; // two epochs away: 4 million packets early or late, never an honest one
        }

        int length = sealedPayload.Length - TagSize;
        if (!keys.TryDecrypt(packetNumber, header, sealedPayload[..length], sealedPayload[length..], plaintext[..length]))
        {
            return false;
        }

        if (ReferenceEquals(keys, _receiveNext))
        {
            // The peer moved to the next epoch and proved it: the current keys become the previous ones.
            _receivePrevious?.Dispose();
            _receivePrevious = _receive;
            _receive = _receiveNext;
            _receiveNext = null;
        }

        return true;
    }

    /// <summary>The acceptor's key confirmation in its Accept: a tag over the packet so far under its sending key, packet number 0.</summary>
    public void SealConfirmation(ReadOnlySpan<byte> associated, Span<byte> tag)
    {
        Span<byte> nonce = stackalloc byte[NonceSize];
        _send.WriteNonce(0, nonce);
        _send.Cipher.Encrypt(nonce, ReadOnlySpan<byte>.Empty, Span<byte>.Empty, tag, associated);
    }

    /// <summary>The initiator checks the Accept's confirmation: the acceptor derived the same keys.</summary>
    public bool CheckConfirmation(ReadOnlySpan<byte> associated, ReadOnlySpan<byte> tag) =>
        _receive.Epoch == 0 && _receive.TryDecrypt(0, associated, ReadOnlySpan<byte>.Empty, tag, Span<byte>.Empty);

    /// <summary>Tests: both directions jump to the epoch of <paramref name="packetNumber"/> (packet numbers were moved there).</summary>
    public void JumpTo(long packetNumber)
    {
        long epoch = packetNumber >> EpochShift;
        while (_send.Epoch < epoch)
        {
            DirectionKeys next = _send.DeriveNext();
            _send.Dispose();
            _send = next;
        }

        while (_receive.Epoch < epoch)
        {
            DirectionKeys next = _receive.DeriveNext();
            _receive.Dispose();
            _receive = next;
        }

        _receivePrevious?.Dispose();
        _receivePrevious = null;
        _receiveNext?.Dispose();
        _receiveNext = null;
    }

    public void Dispose()
    {
        _send.Dispose();
        _receive.Dispose();
        _receivePrevious?.Dispose();
        _receiveNext?.Dispose();
    }

    private static class Labels
    {
        public const int Direction = 10; // "parley i2a" / "parley a2i"
    }

    /// <summary>One direction's keys for one epoch: the secret it came from, the IV and the cipher.</summary>
    private sealed class DirectionKeys : IDisposable
    {
        private readonly byte[] _secret = new byte[SecretSize];
        private readonly byte[] _iv = new byte[NonceSize];

        public DirectionKeys(ReadOnlySpan<byte> secret, long epoch)
        {
            secret.CopyTo(_secret);
            Epoch = epoch;
            Span<byte> key = stackalloc byte[KeySize];
            HKDF.Expand(HashAlgorithmName.SHA256, _secret, key, "parley key"u8);
            HKDF.Expand(HashAlgorithmName.SHA256, _secret, _iv, "parley iv"u8);
            Cipher = new AesGcm(key, TagSize);
            CryptographicOperations.ZeroMemory(key);
        }

        public long Epoch { get; }

        public AesGcm Cipher { get; }

        public DirectionKeys DeriveNext()
        {
            Span<byte> next = stackalloc byte[SecretSize];
            HKDF.Expand(HashAlgorithmName.SHA256, _secret, next, "parley ku"u8);
            var keys = new DirectionKeys(next, Epoch + 1);
            CryptographicOperations.ZeroMemory(next);
            return keys;
        }

        public void WriteNonce(long packetNumber, Span<byte> nonce)
        {
            _iv.CopyTo(nonce);
            ulong low = BinaryPrimitives.ReadUInt64BigEndian(nonce[4..]) ^ (ulong)packetNumber;
            BinaryPrimitives.WriteUInt64BigEndian(nonce[4..], low);
        }

        public bool TryDecrypt(long packetNumber, ReadOnlySpan<byte> associated, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext)
        {
            Span<byte> nonce = stackalloc byte[NonceSize];
            WriteNonce(packetNumber, nonce);
            try
            {
                Cipher.Decrypt(nonce, ciphertext, tag, plaintext, associated);
                return true;
            }
            catch (AuthenticationTagMismatchException)
            {
                // AesGcm has no non-throwing decrypt (dotnet/runtime#67082). Only a packet with a
                // valid CRC32C and a wrong tag gets here — forged, not corrupted — so the cost of
                // the throw falls on an attacker's packets, never on an honest stream.
                return false;
            }
        }

        public void Dispose()
        {
            CryptographicOperations.ZeroMemory(_secret);
            Cipher.Dispose();
        }
    }
}
