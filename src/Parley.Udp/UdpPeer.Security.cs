using System.Net;
using System.Security.Cryptography;

namespace Parley.Udp;

public sealed partial class UdpPeer
{
    private const int MaxPathChallenges = 3;

    // Handshake: the initiator's ephemeral key until the Accept comes; the acceptor's Accept until the initiator's first sealed packet.
    private ECDiffieHellman? _handshakeKey;
    private PacketProtection? _protection;

    // Path validation: a new address the peer's newest packets came from, the number of the first
    // packet that came from it, and the challenge sent there.
    private SocketAddress? _pathCandidate;
    private long _pathTriggerNumber;

    // After a move: the address the session left and the number of the packet that first came
    // from the new one. A packet from the old address numbered at or above it (a copy included)
    // shows the peer never left: the session goes back (RFC 9000 §9.3.3).
    private SocketAddress? _previousAddress;
    private long _previousTriggerNumber;
    private ulong _pathToken;
    private int _pathChallenges;
    private long _pathChallengeAt = long.MaxValue;
    private ulong _pathResponseToken;
    private bool _pathResponseDue;

    /// <summary>The token of the path challenge in progress (tests).</summary>
    internal ulong PathTokenForTest => _pathToken;

    /// <summary>The initiator's public key in its Connect (SEC1 uncompressed P-256).</summary>
    internal byte[] LocalPublicKey { get; private set; } = [];

    /// <summary>Acceptor: the Accept as sent, to repeat for a repeated Connect until a sealed packet shows it arrived.</summary>
    internal byte[]? AcceptPacket { get; set; }

    /// <summary>Acceptor: the source address this session counts against (<see cref="UdpHostOptions.MaxPeersPerAddress"/>), null when not counted.</summary>
    internal UInt128? AddressKey { get; set; }

    /// <summary>Initiator: a fresh ephemeral key for this handshake.</summary>
    internal void StartKeyExchange()
    {
        _handshakeKey = PacketProtection.CreateKey();
        LocalPublicKey = new byte[PacketProtection.PublicKeySize];
        PacketProtection.WritePublicKey(_handshakeKey, LocalPublicKey);
    }

    /// <summary>Initiator: the session's protection from the acceptor's public key, or null when the key is bad.</summary>
    internal PacketProtection? FinishKeyExchange(uint remoteSessionId, ReadOnlySpan<byte> peerPublicKey) =>
        _handshakeKey is null ? null : PacketProtection.TryCreate(_handshakeKey, peerPublicKey, isInitiator: true, LocalSessionId, remoteSessionId, LocalPublicKey, peerPublicKey);

    /// <summary>
    /// Checks and decrypts a Data or Probe packet of this session into <paramref name="plaintext"/>.
    /// False when it does not authenticate; then nothing of this session changed.
    /// </summary>
    internal bool TryOpen(in PacketHeader header, ReadOnlySpan<byte> headerBytes, ReadOnlySpan<byte> payload, Span<byte> plaintext, out long number, out int length)
    {
        number = PacketCodec.ExpandPacketNumber(header.PacketNumber, _acks.LargestReceived + 1);
        length = payload.Length - PacketProtection.TagSize;
        return _protection is not null && length >= 0 && _protection.TryOpen(headerBytes, payload, number, plaintext);
    }

    // Seals a packet built in place (frames after the header) with the next packet number; returns its length.
    private int SealPacket(Span<byte> packet, PacketType type, int payloadLength, long number) =>
        PacketCodec.SealSession(packet, type, RemoteSessionId, number, payloadLength, _protection!);

    /// <summary>Sends a sealed Close frame: the peer ends the session (<see cref="CloseReason.RemoteClose"/> on its side).</summary>
    internal void SendClose(CloseReason reason)
    {
        if (State != PeerState.Connected)
        {
            return;
        }

        const int Frames = 2;
        byte[] buffer = _host.Buffers.Rent(PacketCodec.SessionOverhead + Frames);
        var writer = new FrameWriter(buffer.AsSpan(PacketCodec.HeaderSize, Frames));
        writer.TryWriteClose(reason);
        long number = _recovery.TakePacketNumber();
        int size = SealPacket(buffer, PacketType.Data, Frames, number);
        _recovery.OnSettledSent(number);
        Emit(buffer, size);
    }

    /// <summary>
    /// The newest packet so far authenticated. From an address that is not the session's, its
    /// frames were taken, but the session's packets keep going to the old address until the new
    /// one answers a challenge (QUIC's path validation, RFC 9000 §8.2): a copy of a real packet
    /// raced ahead from elsewhere cannot move a session by itself, because only the peer's keys
    /// can answer. From the session's own address while another is being validated, it shows the
    /// peer did not move: the validation stops. From the address the session last left, the
    /// session goes back there.
    /// </summary>
    private void OnNewestPacket(long number, SocketAddress from, long now)
    {
        if (Address.Equals(from))
        {
            if (_pathCandidate is not null)
            {
                StopPathValidation(); // the peer is still where it was
            }

            return;
        }

        if (_previousAddress is not null && _previousAddress.Equals(from))
        {
            MoveBack();
            return;
        }

        if (_pathCandidate is not null && _pathCandidate.Equals(from))
        {
            return; // being validated: the challenge timer sends again
        }

        _pathCandidate = SocketAddresses.Copy(from);
        _pathTriggerNumber = number;
        Span<byte> token = stackalloc byte[8];
        RandomNumberGenerator.Fill(token);
        _pathToken = BitConverter.ToUInt64(token);
        _pathChallenges = 0;
        _pathChallengeAt = now;
        _host.MarkDirty(this);
    }

    /// <summary>
    /// A packet number seen before arrived again. A copy of a packet seen from a new address that
    /// comes from the session's own address (or from the one the session just left) means one of
    /// the two was a copy raced ahead by someone who sees the path (RFC 9000 §9.3.3): the peer's
    /// real address is the old one, because a peer that moved sends nothing more from there.
    /// </summary>
    private void OnCopyFromPathUnderDoubt(long number, SocketAddress from)
    {
        if (_pathCandidate is not null && number >= _pathTriggerNumber && Address.Equals(from))
        {
            StopPathValidation();
        }
        else if (_previousAddress is not null && number >= _previousTriggerNumber && _previousAddress.Equals(from))
        {
            MoveBack();
        }
    }

    private void StopPathValidation()
    {
        _pathCandidate = null;
        _pathChallengeAt = long.MaxValue;
    }

    private void MoveBack()
    {
        SocketAddress previous = _previousAddress!;
        _previousAddress = null;
        StopPathValidation();
        _host.MovePeer(this, previous);
    }

    private void OnPathResponse(ulong token, SocketAddress from)
    {
        if (_pathCandidate is null || token != _pathToken || !_pathCandidate.Equals(from))
        {
            return; // not the answer to our challenge, or not from the address challenged
        }

        SocketAddress validated = _pathCandidate;
        _previousAddress = SocketAddresses.Copy(Address);
        _previousTriggerNumber = _pathTriggerNumber;
        StopPathValidation();
        _host.MovePeer(this, validated);
    }

    /// <summary>Sends the path challenge when one is due: a sealed packet with only the challenge, to the new address.</summary>
    private void SendPathChallengeIfDue(long now)
    {
        if (_pathCandidate is null || now < _pathChallengeAt)
        {
            return;
        }

        if (_pathChallenges >= MaxPathChallenges)
        {
            _pathCandidate = null; // never answered: the session stays where it is
            _pathChallengeAt = long.MaxValue;
            return;
        }

        const int Frames = 9;
        byte[] buffer = _host.Buffers.Rent(PacketCodec.SessionOverhead + Frames);
        var writer = new FrameWriter(buffer.AsSpan(PacketCodec.HeaderSize, Frames));
        writer.TryWritePathFrame(FrameType.PathChallenge, _pathToken);
        long number = _recovery.TakePacketNumber();
        int size = SealPacket(buffer, PacketType.Data, Frames, number);
        _recovery.OnSettledSent(number);
        _packetsSent++;
        _bytesSent += size;
        _host.EmitOwned(_pathCandidate, buffer, size);
        _pathChallenges++;
        _pathChallengeAt = now + (_recovery.RtoMicros << _pathChallenges); // 2, 4, 8 timeouts: about as long as a loss takes to recover
    }
}
