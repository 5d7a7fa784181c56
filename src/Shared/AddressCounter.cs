using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Parley.Internal;

/// <summary>
/// Counts what each peer address holds (connections, handshakes) against a limit. An IPv4
/// address counts alone; an IPv6 address counts with its /64, which one host usually owns
/// whole. Peers without an IP address (shared memory, Unix sockets) are not counted. Compiled
/// into each assembly that limits peers per address (the core, UDP) as its own internal type.
/// </summary>
internal sealed class AddressCounter
{
    private readonly ConcurrentDictionary<UInt128, int> _counts = new();

    /// <summary>The key an endpoint counts under, or null when it has no IP address.</summary>
    public static UInt128? KeyOf(EndPoint? endPoint)
    {
        if (endPoint is not IPEndPoint { Address: var address })
        {
            return null;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        Span<byte> bytes = stackalloc byte[16];
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            address.TryWriteBytes(bytes, out _);
            return (UInt128)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(bytes);
        }

        address.TryWriteBytes(bytes, out _);
        ulong prefix = System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(bytes);
        return new UInt128(prefix, 1); // the low bit keeps /64 keys apart from IPv4 keys
    }

    /// <summary>Takes one unit for <paramref name="key"/> unless it holds <paramref name="limit"/> already.</summary>
    public bool TryAcquire(UInt128? key, int limit)
    {
        if (key is not { } k)
        {
            return true;
        }

        while (true)
        {
            if (!_counts.TryGetValue(k, out int count))
            {
                if (_counts.TryAdd(k, 1))
                {
                    return true;
                }

                continue;
            }

            if (count >= limit)
            {
                return false;
            }

            if (_counts.TryUpdate(k, count + 1, count))
            {
                return true;
            }
        }
    }

    /// <summary>Gives back one unit taken with <see cref="TryAcquire"/>.</summary>
    public void Release(UInt128? key)
    {
        if (key is not { } k)
        {
            return;
        }

        while (_counts.TryGetValue(k, out int count))
        {
            if (count <= 1)
            {
                // Remove only if still 1: a concurrent acquire that raised it wins and we retry.
                if (_counts.TryRemove(new KeyValuePair<UInt128, int>(k, count)))
                {
                    return;
                }
            }
            else if (_counts.TryUpdate(k, count - 1, count))
            {
                return;
            }
        }
    }

    /// <summary>Units held by <paramref name="key"/> now.</summary>
    public int CountOf(UInt128? key) => key is { } k && _counts.TryGetValue(k, out int count) ? count : 0;
}
