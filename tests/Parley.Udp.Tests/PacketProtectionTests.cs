using System.Security.Cryptography;

namespace Parley.Udp.Tests;

public class PacketProtectionTests
{
    private const uint InitiatorId = 0x1111_1111;
    private const uint AcceptorId = 0x2222_2222;

    // Both ends of one session, as the handshake makes them.
    private static (PacketProtection Initiator, PacketProtection Acceptor) Pair()
    {
        using ECDiffieHellman initiatorKey = PacketProtection.CreateKey();
        using ECDiffieHellman acceptorKey = PacketProtection.CreateKey();
        byte[] initiatorPublic = new byte[PacketProtection.PublicKeySize];
        byte[] acceptorPublic = new byte[PacketProtection.PublicKeySize];
        PacketProtection.WritePublicKey(initiatorKey, initiatorPublic);
        PacketProtection.WritePublicKey(acceptorKey, acceptorPublic);
        PacketProtection initiator = PacketProtection.TryCreate(initiatorKey, acceptorPublic, true, InitiatorId, AcceptorId, initiatorPublic, acceptorPublic)!;
        PacketProtection acceptor = PacketProtection.TryCreate(acceptorKey, initiatorPublic, false, InitiatorId, AcceptorId, initiatorPublic, acceptorPublic)!;
        return (initiator, acceptor);
    }

    private static byte[] Sealed(PacketProtection sender, long number, byte[] frames)
    {
        byte[] packet = new byte[PacketCodec.SessionOverhead + frames.Length];
        frames.CopyTo(packet, PacketCodec.HeaderSize);
        PacketCodec.SealSession(packet, PacketType.Data, AcceptorId, number, frames.Length, sender);
        return packet;
    }

    private static bool Open(PacketProtection receiver, byte[] packet, long number, out byte[] frames)
    {
        byte[] plain = new byte[packet.Length];
        ReadOnlySpan<byte> payload = packet.AsSpan(PacketCodec.HeaderSize, packet.Length - PacketCodec.Overhead);
        bool ok = receiver.TryOpen(packet.AsSpan(0, PacketCodec.HeaderSize), payload, number, plain);
        frames = plain[..(payload.Length - PacketProtection.TagSize)];
        return ok;
    }

    [Fact]
    public void A_sealed_packet_opens_on_the_other_side_only_and_its_frames_are_not_in_clear()
    {
        (PacketProtection initiator, PacketProtection acceptor) = Pair();
        using (initiator)
        using (acceptor)
        {
            byte[] frames = [.. "hello, acceptor"u8];
            byte[] packet = Sealed(initiator, 7, frames);
            Assert.Equal(-1, packet.AsSpan().IndexOf("hello"u8));
            Assert.True(Open(acceptor, packet, 7, out byte[] opened));
            Assert.Equal(frames, opened);
            Assert.False(Open(initiator, packet, 7, out _)); // each direction has its own key
        }
    }

    [Fact]
    public void Any_changed_bit_a_wrong_number_or_another_session_fails_to_open()
    {
        (PacketProtection initiator, PacketProtection acceptor) = Pair();
        (PacketProtection strangerInitiator, PacketProtection strangerAcceptor) = Pair();
        using (initiator)
        using (acceptor)
        using (strangerInitiator)
        using (strangerAcceptor)
        {
            byte[] packet = Sealed(initiator, 42, new byte[40]);
            int sealedEnd = packet.Length - PacketCodec.ChecksumSize;
            for (int bit = 0; bit < sealedEnd * 8; bit++)
            {
                byte[] copy = (byte[])packet.Clone();
                copy[bit / 8] ^= (byte)(1 << (bit % 8));
                Assert.False(Open(acceptor, copy, 42, out _), $"bit {bit}");
            }

            Assert.False(Open(acceptor, packet, 43, out _));
            Assert.False(Open(strangerAcceptor, packet, 42, out _));
            Assert.True(Open(acceptor, packet, 42, out _));
        }
    }

    [Fact]
    public void Keys_follow_the_packet_number_epoch_and_a_late_packet_of_the_last_epoch_still_opens()
    {
        (PacketProtection initiator, PacketProtection acceptor) = Pair();
        using (initiator)
        using (acceptor)
        {
            long epoch = 1L << PacketProtection.EpochShift;
            byte[] late = Sealed(initiator, epoch - 1, [1]);
            byte[] next = Sealed(initiator, epoch, [2]);          // the sender moved on
            byte[] twoAhead = Sealed(initiator, (3 * epoch) + 5, [3]);
            Assert.True(Open(acceptor, next, epoch, out _));      // the receiver follows
            Assert.True(Open(acceptor, late, epoch - 1, out _));  // and keeps the last epoch's key for stragglers
            Assert.False(Open(acceptor, twoAhead, (3 * epoch) + 5, out _)); // never a jump of two epochs

            // The same number under another epoch's key is another key: no nonce is shared.
            Assert.NotEqual(late.AsSpan(PacketCodec.HeaderSize).ToArray(), next.AsSpan(PacketCodec.HeaderSize).ToArray());
        }
    }

    [Fact]
    public void A_public_key_that_is_not_a_point_on_the_curve_makes_no_session()
    {
        using ECDiffieHellman own = PacketProtection.CreateKey();
        byte[] ownPublic = new byte[PacketProtection.PublicKeySize];
        PacketProtection.WritePublicKey(own, ownPublic);
        byte[] bad = (byte[])ownPublic.Clone();
        bad[40] ^= 1; // almost certainly off the curve
        Assert.Null(PacketProtection.TryCreate(own, bad, false, InitiatorId, AcceptorId, bad, ownPublic));
        Assert.Null(PacketProtection.TryCreate(own, new byte[PacketProtection.PublicKeySize], false, InitiatorId, AcceptorId, bad, ownPublic));
        Assert.Null(PacketProtection.TryCreate(own, ownPublic.AsSpan(0, 64), false, InitiatorId, AcceptorId, bad, ownPublic));
    }

    [Fact]
    public void Sealing_and_opening_allocate_nothing_per_packet()
    {
        (PacketProtection initiator, PacketProtection acceptor) = Pair();
        using (initiator)
        using (acceptor)
        {
            byte[] packet = new byte[1472];
            byte[] plain = new byte[1472];
            int frames = packet.Length - PacketCodec.SessionOverhead;
            void RoundTrip(long number)
            {
                PacketCodec.SealSession(packet, PacketType.Data, AcceptorId, number, frames, initiator);
                Assert.True(acceptor.TryOpen(packet.AsSpan(0, PacketCodec.HeaderSize), packet.AsSpan(PacketCodec.HeaderSize, frames + PacketProtection.TagSize), number, plain));
            }

            for (long n = 1; n <= 100; n++)
            {
                RoundTrip(n); // warm up
            }

            long before = GC.GetAllocatedBytesForCurrentThread();
            for (long n = 101; n <= 2100; n++)
            {
                RoundTrip(n);
            }

            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        }
    }
}
