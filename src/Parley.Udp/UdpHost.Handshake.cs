using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography;

namespace Parley.Udp;

// The handshake (Hello, Cookie, Connect, Accept, Close) and the entry of every datagram. About
// 400 lines: the four handshake packets, their checks and the session's start and end read best
// together.
public sealed partial class UdpHost
{
    // Connect payload: cookie · u32 initiator session · u32 receive window · u32 max enqueued · u16 max packet · P-256 public key · padding.
    private const int ConnectBodySize = CookieJar.Size + LimitsSize + PacketProtection.PublicKeySize;

    // Accept payload: u32 acceptor session · u32 receive window · u32 max enqueued · u16 max packet · P-256 public key · key confirmation tag.
    private const int AcceptBodySize = LimitsSize + PacketProtection.PublicKeySize + PacketProtection.TagSize;

    private const int LimitsSize = 4 + 4 + 4 + 2;

    /// <summary>Key pairs generated to answer Connects (tests prove a bad Connect costs none).</summary>
    internal long KeyPairsGenerated { get; private set; }

    private UdpPeer StartHandshake(SocketAddress remote)
    {
        var peer = new UdpPeer(this, remote, NewSessionId(), isInitiator: true);
        peer.StartKeyExchange();
        _sessions[peer.LocalSessionId] = peer;
        long now = NowMicros;
        peer.HandshakeStartedAt = now;
        peer.HandshakeInterval = (long)Options.InitialRto.TotalMicroseconds;
        SendHello(peer);
        peer.NextHandshakeAt = now + peer.HandshakeInterval;
        Reschedule(peer);
        RecordChange(peer);
        return peer;
    }

    private uint NewSessionId()
    {
        Span<byte> bytes = stackalloc byte[4];
        while (true)
        {
            RandomNumberGenerator.Fill(bytes);
            uint id = BinaryPrimitives.ReadUInt32LittleEndian(bytes);
            if (id != 0 && !_sessions.ContainsKey(id))
            {
                return id;
            }
        }
    }

    // Hello and Connect are padded to the minimum packet size: every answer is smaller (no amplification).
    // The Hello carries the initiator's public key, which the cookie is bound to (with the session id).
    private void SendHello(UdpPeer peer)
    {
        Span<byte> packet = PacketBuffer.AsSpan(0, Options.MinPacketSize);
        packet[PacketCodec.HeaderSize..].Clear();
        peer.LocalPublicKey.CopyTo(packet[PacketCodec.HeaderSize..]);
        int size = PacketCodec.Seal(packet, new PacketHeader(PacketType.Hello, peer.LocalSessionId, 0), Options.MinPacketSize - PacketCodec.Overhead);
        Emit(peer.Address, packet[..size]);
    }

    private void SendConnect(UdpPeer peer)
    {
        Span<byte> packet = PacketBuffer.AsSpan(0, Options.MinPacketSize);
        packet[PacketCodec.HeaderSize..].Clear();
        Span<byte> body = packet[PacketCodec.HeaderSize..];
        peer.Cookie.CopyTo(body);
        WriteLimits(body[CookieJar.Size..], peer.LocalSessionId);
        peer.LocalPublicKey.CopyTo(body[(CookieJar.Size + LimitsSize)..]);
        int size = PacketCodec.Seal(packet, new PacketHeader(PacketType.Connect, peer.LocalSessionId, 0), Options.MinPacketSize - PacketCodec.Overhead);
        Emit(peer.Address, packet[..size]);
    }

    // The Accept carries the acceptor's public key and a tag under its new sending key over
    // everything before it (key confirmation): a forged Accept cannot bring a session up. Kept
    // until the initiator's first sealed packet shows it arrived, to answer a repeated Connect.
    private byte[] BuildAccept(UdpPeer peer, ReadOnlySpan<byte> publicKey, PacketProtection protection)
    {
        byte[] packet = new byte[PacketCodec.Overhead + AcceptBodySize];
        Span<byte> body = packet.AsSpan(PacketCodec.HeaderSize);
        WriteLimits(body, peer.LocalSessionId);
        publicKey.CopyTo(body[LimitsSize..]);
        PacketCodec.WriteHeader(packet, new PacketHeader(PacketType.Accept, peer.RemoteSessionId, 0));
        int tagAt = PacketCodec.HeaderSize + LimitsSize + PacketProtection.PublicKeySize;
        protection.SealConfirmation(packet.AsSpan(0, tagAt), packet.AsSpan(tagAt, PacketProtection.TagSize));
        PacketCodec.Seal(packet, new PacketHeader(PacketType.Accept, peer.RemoteSessionId, 0), AcceptBodySize);
        return packet;
    }

    private void WriteLimits(Span<byte> destination, uint sessionId)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, sessionId);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], (uint)Options.ReceiveWindowBytes);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], (uint)Options.MaxEnqueuedMessages);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[12..], (ushort)Options.MaxPacketSize);
    }

    // A refusal before any session exists (ServerFull, AddressLimit): unauthenticated, so a
    // connecting peer takes it only from the address it is connecting to, and a live session never.
    private void SendClose(SocketAddress to, uint sessionId, CloseReason reason)
    {
        Span<byte> packet = PacketBuffer.AsSpan(0, PacketCodec.Overhead + 1);
        packet[PacketCodec.HeaderSize] = CloseCodes.ToWire(reason);
        int size = PacketCodec.Seal(packet, new PacketHeader(PacketType.Close, sessionId, 0), 1);
        Emit(to, packet[..size]);
    }

    /// <summary>Handles one datagram. Never throws for anything a network can deliver.</summary>
    internal void Receive(SocketAddress from, ReadOnlySpan<byte> datagram)
    {
        if (_disposed)
        {
            return;
        }

        if (_blacklist.Count > 0 && _blacklist.Contains(((IPEndPoint)LocalEndPoint.Create(from)).Address))
        {
            CountDrop(DropReason.Blacklisted);
            return;
        }

        if (!PacketCodec.TryRead(datagram, Options.MaxPacketSize, out PacketHeader header, out ReadOnlySpan<byte> payload, out _, out DropReason reason))
        {
            CountDrop(reason);
            return;
        }

        long now = NowMicros;
        switch (header.Type)
        {
            case PacketType.Data or PacketType.Probe:
                OnSessionPacket(from, header, datagram, payload, now);
                break;
            case PacketType.Hello:
                OnHello(from, header, payload, datagram.Length);
                break;
            case PacketType.Cookie:
                OnCookie(from, header, payload);
                break;
            case PacketType.Connect:
                OnConnect(from, header, payload, datagram.Length, now);
                break;
            case PacketType.Accept:
                OnAccept(from, header, datagram, payload, now);
                break;
            case PacketType.Close:
                OnClose(from, header, payload);
                break;
        }
    }

    private void OnSessionPacket(SocketAddress from, PacketHeader header, ReadOnlySpan<byte> datagram, ReadOnlySpan<byte> payload, long now)
    {
        if (!_sessions.TryGetValue(header.SessionId, out UdpPeer? peer) || peer.State != PeerState.Connected)
        {
            CountDrop(DropReason.UnknownSession);
            return;
        }

        // Nothing of a packet is looked at before it authenticates: not its frames, not its
        // number (RTT, acks, last-seen), not its source address.
        if (!peer.TryOpen(header, datagram[..PacketCodec.HeaderSize], payload, _plaintext, out long number, out int length))
        {
            CountDrop(DropReason.AuthenticationFailed);
            return;
        }

        peer.OnPacket(header, number, _plaintext.AsSpan(0, length), datagram.Length, from, now);
        Reschedule(peer);
    }

    /// <summary>Path validation succeeded: the session's packets go to <paramref name="address"/> from now on.</summary>
    internal void MovePeer(UdpPeer peer, SocketAddress address)
    {
        IPEndPoint old = peer.RemoteEndPoint;
        _byRemote.Remove((peer.Address, peer.RemoteSessionId));
        peer.UpdateAddress(address);
        _byRemote[(peer.Address, peer.RemoteSessionId)] = peer;
        Log.PeerMoved(_logger, peer.LocalSessionId, old, peer.RemoteEndPoint);
        RaisePeer(PeerEventKind.AddressChanged, peer);
    }

    private void OnHello(SocketAddress from, PacketHeader header, ReadOnlySpan<byte> payload, int length)
    {
        if (length < Options.MinPacketSize || header.SessionId == 0 || payload.Length < PacketProtection.PublicKeySize)
        {
            CountDrop(DropReason.BadHandshake); // an unpadded hello could make us send more than we got
            return;
        }

        SocketAddress to = SocketAddresses.Copy(from);
        Span<byte> packet = PacketBuffer.AsSpan(0, PacketCodec.Overhead + CookieJar.Size);
        _cookies.Create((IPEndPoint)LocalEndPoint.Create(to), header.SessionId, payload[..PacketProtection.PublicKeySize], packet.Slice(PacketCodec.HeaderSize, CookieJar.Size));
        int size = PacketCodec.Seal(packet, new PacketHeader(PacketType.Cookie, header.SessionId, 0), CookieJar.Size);
        Emit(to, packet[..size]);
    }

    private void OnCookie(SocketAddress from, PacketHeader header, ReadOnlySpan<byte> payload)
    {
        if (!_sessions.TryGetValue(header.SessionId, out UdpPeer? peer) || peer.State != PeerState.Connecting || !peer.Address.Equals(from) || payload.Length != CookieJar.Size)
        {
            CountDrop(DropReason.BadHandshake);
            return;
        }

        peer.Cookie = payload.ToArray();
        SendConnect(peer);
    }

    private void OnConnect(SocketAddress from, PacketHeader header, ReadOnlySpan<byte> payload, int length, long now)
    {
        if (length < Options.MinPacketSize || payload.Length < ConnectBodySize)
        {
            CountDrop(DropReason.BadHandshake);
            return;
        }

        // The cookie must have been made for this address, this session id and this public key:
        // one seen in clear cannot open other sessions from the victim's address.
        ReadOnlySpan<byte> limits = payload[CookieJar.Size..];
        uint remoteId = BinaryPrimitives.ReadUInt32LittleEndian(limits);
        ReadOnlySpan<byte> peerKey = limits.Slice(LimitsSize, PacketProtection.PublicKeySize);
        if (remoteId == 0 || remoteId != header.SessionId
            || !_cookies.IsValid((IPEndPoint)LocalEndPoint.Create(from), remoteId, peerKey, payload[..CookieJar.Size]))
        {
            CountDrop(DropReason.BadHandshake);
            return;
        }

        if (_byRemote.TryGetValue((from, remoteId), out UdpPeer? existing))
        {
            if (existing.State == PeerState.Connected && existing.AcceptPacket is { } accept)
            {
                Emit(existing.Address, accept); // our Accept was lost: say it again (the same bytes)
            }

            return;
        }

        SocketAddress address = SocketAddresses.Copy(from);
        if (_sessions.Count >= Options.MaxPeers)
        {
            SendClose(address, remoteId, CloseReason.ConnectionLimit);
            return;
        }

        // The peer's key is checked (imported) before anything is spent on it: a bad one costs no
        // slot and no key generation.
        using ECDiffieHellman? peerPublic = PacketProtection.TryImportPublicKey(peerKey);
        if (peerPublic is null)
        {
            CountDrop(DropReason.BadHandshake);
            return;
        }

        // Sessions per source address (an IPv4 address or an IPv6 /64), so one source cannot take every slot.
        UInt128? addressKey = Parley.Internal.AddressCounter.KeyOf(LocalEndPoint.Create(address));
        if (!_perAddress.TryAcquire(addressKey, Options.MaxPeersPerAddress))
        {
            CountDrop(DropReason.AddressLimit);
            SendClose(address, remoteId, CloseReason.AddressLimit);
            return;
        }

        // The key exchange, only now that the cookie proved the address and a slot is free.
        uint localId = NewSessionId();
        Span<byte> ownKey = stackalloc byte[PacketProtection.PublicKeySize];
        PacketProtection? protection = null;
        try
        {
            using (ECDiffieHellman own = PacketProtection.CreateKey())
            {
                KeyPairsGenerated++;
                PacketProtection.WritePublicKey(own, ownKey);
                protection = PacketProtection.TryCreate(own, peerPublic, isInitiator: false, remoteId, localId, peerKey, ownKey);
            }

            if (protection is null)
            {
                _perAddress.Release(addressKey);
                CountDrop(DropReason.BadHandshake);
                return;
            }

            var peer = new UdpPeer(this, address, localId, isInitiator: false) { AddressKey = addressKey };
            _sessions[peer.LocalSessionId] = peer;
            _byRemote[(address, remoteId)] = peer;
            peer.Establish(remoteId, protection, BinaryPrimitives.ReadUInt32LittleEndian(limits[4..]), (int)BinaryPrimitives.ReadUInt32LittleEndian(limits[8..]), BinaryPrimitives.ReadUInt16LittleEndian(limits[12..]), now);
            peer.AcceptPacket = BuildAccept(peer, ownKey, protection);
            protection = null; // the session owns it now
            Emit(address, peer.AcceptPacket);
            Connected(peer);
        }
        finally
        {
            protection?.Dispose();
        }
    }

    private void OnAccept(SocketAddress from, PacketHeader header, ReadOnlySpan<byte> datagram, ReadOnlySpan<byte> payload, long now)
    {
        if (!_sessions.TryGetValue(header.SessionId, out UdpPeer? peer) || peer.State != PeerState.Connecting || !peer.Address.Equals(from) || payload.Length != AcceptBodySize)
        {
            CountDrop(DropReason.BadHandshake);
            return;
        }

        uint remoteId = BinaryPrimitives.ReadUInt32LittleEndian(payload);
        ReadOnlySpan<byte> peerKey = payload.Slice(LimitsSize, PacketProtection.PublicKeySize);
        int tagAt = PacketCodec.HeaderSize + LimitsSize + PacketProtection.PublicKeySize;
        PacketProtection? protection = remoteId == 0 ? null : peer.FinishKeyExchange(remoteId, peerKey);
        if (protection is null || !protection.CheckConfirmation(datagram[..tagAt], datagram.Slice(tagAt, PacketProtection.TagSize)))
        {
            protection?.Dispose();
            CountDrop(DropReason.BadHandshake); // a bad key, or keys that do not match: not the acceptor we talked to
            return;
        }

        _byRemote[(peer.Address, remoteId)] = peer;
        peer.Establish(remoteId, protection, BinaryPrimitives.ReadUInt32LittleEndian(payload[4..]), (int)BinaryPrimitives.ReadUInt32LittleEndian(payload[8..]), BinaryPrimitives.ReadUInt16LittleEndian(payload[12..]), now);
        Connected(peer);
    }

    private void Connected(UdpPeer peer)
    {
        Log.PeerConnected(_logger, peer.RemoteEndPoint, peer.LocalSessionId);
        RecordChange(peer);
        Reschedule(peer);
        MarkDirty(peer);
        if (_connectWaiters.Remove(peer, out TaskCompletionSource<UdpPeer>? waiter))
        {
            waiter.TrySetResult(peer);
        }

        RaisePeer(PeerEventKind.Connected, peer);
    }

    private void OnClose(SocketAddress from, PacketHeader header, ReadOnlySpan<byte> payload)
    {
        if (!_sessions.TryGetValue(header.SessionId, out UdpPeer? peer) || !peer.Address.Equals(from))
        {
            CountDrop(DropReason.UnknownSession);
            return;
        }

        if (peer.State != PeerState.Connecting)
        {
            // A live session ends only by a sealed Close frame: this one could come from anyone.
            CountDrop(DropReason.AuthenticationFailed);
            return;
        }

        var reason = payload.Length == 1 ? CloseCodes.FromWire(payload[0]) : CloseReason.ConnectFailed;
        EndSession(peer, reason is CloseReason.ConnectionLimit or CloseReason.AddressLimit ? reason : CloseReason.ConnectFailed);
    }

    /// <summary>Ends a session for <paramref name="reason"/>: pending messages fail, the peer is forgotten, a pinned one is reconnected later.</summary>
    internal void EndSession(UdpPeer peer, CloseReason reason)
    {
        if (peer.State == PeerState.Disconnected)
        {
            return;
        }

        peer.Terminate(reason);
        _endedTotals = _endedTotals.Add(peer.GetStatistics() with { QueuedEvents = 0 }); // a gauge: the session's last events are still to be raised
        _sessions.Remove(peer.LocalSessionId);
        _byRemote.Remove((peer.Address, peer.RemoteSessionId));
        _perAddress.Release(peer.AddressKey);
        peer.AddressKey = null;
        Log.PeerDisconnected(_logger, peer.RemoteEndPoint, peer.LocalSessionId, reason);
        RecordChange(peer);
        if (_connectWaiters.Remove(peer, out TaskCompletionSource<UdpPeer>? waiter))
        {
            waiter.TrySetException(new UdpConnectException($"Could not connect to {peer.RemoteEndPoint}: {reason}.", reason));
        }

        if (peer.IsPinned && !_disposed && _pinned.TryGetValue(peer.RemoteEndPoint, out PinnedPeer? pinned) && ReferenceEquals(pinned.Current, peer))
        {
            pinned.ReconnectAt = NowMicros + (long)Options.PinnedReconnectDelay.TotalMicroseconds;
        }

        RaisePeer(PeerEventKind.Disconnected, peer);
    }

    /// <summary>Handshake retries and the connect timeout of an initiating peer.</summary>
    private void OnHandshakeTimer(UdpPeer peer, long now)
    {
        if (now - peer.HandshakeStartedAt >= (long)Options.ConnectTimeout.TotalMicroseconds)
        {
            EndSession(peer, CloseReason.ConnectFailed);
            return;
        }

        if (now >= peer.NextHandshakeAt)
        {
            if (peer.Cookie is null)
            {
                SendHello(peer);
            }
            else
            {
                SendConnect(peer);
            }

            peer.HandshakeInterval = Math.Min(peer.HandshakeInterval * 2, (long)Options.MaxRto.TotalMicroseconds);
            peer.NextHandshakeAt = now + peer.HandshakeInterval;
        }
    }
}
