using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography;

namespace Parley.Udp;

public sealed partial class UdpHost
{
    // Connect payload: cookie · u32 initiator session · u32 receive window · u32 max enqueued · u16 max packet · padding.
    private const int ConnectBodySize = CookieJar.Size + 4 + 4 + 4 + 2;

    // Accept payload: u32 acceptor session · u32 receive window · u32 max enqueued · u16 max packet.
    private const int AcceptBodySize = 4 + 4 + 4 + 2;

    private UdpPeer StartHandshake(SocketAddress remote)
    {
        var peer = new UdpPeer(this, remote, NewSessionId(), isInitiator: true);
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
    private void SendHello(UdpPeer peer)
    {
        Span<byte> packet = PacketBuffer.AsSpan(0, Options.MinPacketSize);
        packet[PacketCodec.HeaderSize..].Clear();
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
        int size = PacketCodec.Seal(packet, new PacketHeader(PacketType.Connect, peer.LocalSessionId, 0), Options.MinPacketSize - PacketCodec.Overhead);
        Emit(peer.Address, packet[..size]);
    }

    private void SendAccept(UdpPeer peer)
    {
        Span<byte> packet = PacketBuffer.AsSpan(0, PacketCodec.Overhead + AcceptBodySize);
        WriteLimits(packet[PacketCodec.HeaderSize..], peer.LocalSessionId);
        int size = PacketCodec.Seal(packet, new PacketHeader(PacketType.Accept, peer.RemoteSessionId, 0), AcceptBodySize);
        Emit(peer.Address, packet[..size]);
    }

    private void WriteLimits(Span<byte> destination, uint sessionId)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, sessionId);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], (uint)Options.ReceiveWindowBytes);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], (uint)Options.MaxEnqueuedMessages);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[12..], (ushort)Options.MaxPacketSize);
    }

    internal void SendClose(UdpPeer peer, DisconnectReason reason) => SendClose(peer.Address, peer.RemoteSessionId, reason);

    private void SendClose(SocketAddress to, uint sessionId, DisconnectReason reason)
    {
        Span<byte> packet = PacketBuffer.AsSpan(0, PacketCodec.Overhead + 1);
        packet[PacketCodec.HeaderSize] = (byte)reason;
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
                OnSessionPacket(from, header, payload, datagram.Length, now);
                break;
            case PacketType.Hello:
                OnHello(from, header, datagram.Length);
                break;
            case PacketType.Cookie:
                OnCookie(from, header, payload);
                break;
            case PacketType.Connect:
                OnConnect(from, header, payload, datagram.Length, now);
                break;
            case PacketType.Accept:
                OnAccept(from, header, payload, now);
                break;
            case PacketType.Close:
                OnClose(from, header, payload);
                break;
        }
    }

    private void OnSessionPacket(SocketAddress from, PacketHeader header, ReadOnlySpan<byte> payload, int length, long now)
    {
        if (!_sessions.TryGetValue(header.SessionId, out UdpPeer? peer) || peer.State != PeerState.Connected)
        {
            CountDrop(DropReason.UnknownSession);
            return;
        }

        if (!peer.Address.Equals(from))
        {
            // The session id and checksum match but the address does not: a NAT rebinding or a
            // port change. Follow it only for a packet newer than any seen, so a replayed old
            // packet cannot move the session.
            if (PacketCodec.ExpandPacketNumber(header.PacketNumber, peer.LargestReceived + 1) <= peer.LargestReceived)
            {
                CountDrop(DropReason.UnknownSession);
                return;
            }

            IPEndPoint old = peer.RemoteEndPoint;
            _byRemote.Remove((peer.Address, peer.RemoteSessionId));
            peer.UpdateAddress(SocketAddresses.Copy(from));
            _byRemote[(peer.Address, peer.RemoteSessionId)] = peer;
            Log.PeerMoved(_logger, peer.LocalSessionId, old, peer.RemoteEndPoint);
            RaisePeer(PeerAddressChanged, peer);
        }

        peer.OnPacket(header, payload, length, now);
        Reschedule(peer);
    }

    private void OnHello(SocketAddress from, PacketHeader header, int length)
    {
        if (length < Options.MinPacketSize || header.SessionId == 0)
        {
            CountDrop(DropReason.BadHandshake); // an unpadded hello could make us send more than we got
            return;
        }

        SocketAddress to = SocketAddresses.Copy(from);
        Span<byte> packet = PacketBuffer.AsSpan(0, PacketCodec.Overhead + CookieJar.Size);
        _cookies.Create((IPEndPoint)LocalEndPoint.Create(to), packet.Slice(PacketCodec.HeaderSize, CookieJar.Size));
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
        if (length < Options.MinPacketSize || payload.Length < ConnectBodySize
            || !_cookies.IsValid((IPEndPoint)LocalEndPoint.Create(from), payload[..CookieJar.Size]))
        {
            CountDrop(DropReason.BadHandshake);
            return;
        }

        ReadOnlySpan<byte> limits = payload[CookieJar.Size..];
        uint remoteId = BinaryPrimitives.ReadUInt32LittleEndian(limits);
        if (remoteId == 0 || remoteId != header.SessionId)
        {
            CountDrop(DropReason.BadHandshake);
            return;
        }

        if (_byRemote.TryGetValue((from, remoteId), out UdpPeer? existing))
        {
            if (existing.State == PeerState.Connected)
            {
                SendAccept(existing); // our Accept was lost: say it again
            }

            return;
        }

        SocketAddress address = SocketAddresses.Copy(from);
        if (_sessions.Count >= Options.MaxPeers)
        {
            SendClose(address, remoteId, DisconnectReason.ServerFull);
            return;
        }

        var peer = new UdpPeer(this, address, NewSessionId(), isInitiator: false);
        _sessions[peer.LocalSessionId] = peer;
        _byRemote[(address, remoteId)] = peer;
        peer.Establish(remoteId, BinaryPrimitives.ReadUInt32LittleEndian(limits[4..]), (int)BinaryPrimitives.ReadUInt32LittleEndian(limits[8..]), BinaryPrimitives.ReadUInt16LittleEndian(limits[12..]), now);
        SendAccept(peer);
        Connected(peer);
    }

    private void OnAccept(SocketAddress from, PacketHeader header, ReadOnlySpan<byte> payload, long now)
    {
        if (!_sessions.TryGetValue(header.SessionId, out UdpPeer? peer) || peer.State != PeerState.Connecting || !peer.Address.Equals(from) || payload.Length < AcceptBodySize)
        {
            CountDrop(DropReason.BadHandshake);
            return;
        }

        uint remoteId = BinaryPrimitives.ReadUInt32LittleEndian(payload);
        if (remoteId == 0)
        {
            CountDrop(DropReason.BadHandshake);
            return;
        }

        _byRemote[(peer.Address, remoteId)] = peer;
        peer.Establish(remoteId, BinaryPrimitives.ReadUInt32LittleEndian(payload[4..]), (int)BinaryPrimitives.ReadUInt32LittleEndian(payload[8..]), BinaryPrimitives.ReadUInt16LittleEndian(payload[12..]), now);
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

        RaisePeer(PeerConnected, peer);
    }

    private void OnClose(SocketAddress from, PacketHeader header, ReadOnlySpan<byte> payload)
    {
        if (!_sessions.TryGetValue(header.SessionId, out UdpPeer? peer) || !peer.Address.Equals(from))
        {
            CountDrop(DropReason.UnknownSession);
            return;
        }

        var reason = payload.Length == 1 ? (DisconnectReason)payload[0] : DisconnectReason.Remote;
        EndSession(peer, peer.State == PeerState.Connecting ? (reason == DisconnectReason.ServerFull ? DisconnectReason.ServerFull : DisconnectReason.ConnectFailed) : DisconnectReason.Remote);
    }

    /// <summary>Ends a session for <paramref name="reason"/>: pending messages fail, the peer is forgotten, a pinned one is reconnected later.</summary>
    internal void EndSession(UdpPeer peer, DisconnectReason reason)
    {
        if (peer.State == PeerState.Disconnected)
        {
            return;
        }

        peer.Terminate(reason);
        _endedTotals = _endedTotals.Add(peer.GetStatistics()) with { };
        _sessions.Remove(peer.LocalSessionId);
        _byRemote.Remove((peer.Address, peer.RemoteSessionId));
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

        RaisePeer(PeerDisconnected, peer);
    }

    /// <summary>Handshake retries and the connect timeout of an initiating peer.</summary>
    private void OnHandshakeTimer(UdpPeer peer, long now)
    {
        if (now - peer.HandshakeStartedAt >= (long)Options.ConnectTimeout.TotalMicroseconds)
        {
            EndSession(peer, DisconnectReason.ConnectFailed);
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
