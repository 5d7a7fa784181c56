using System.Net;
using System.Net.Sockets;

namespace Parley.Chat;

/// <summary>What a peer counts as for per-address limits: its IPv4 address, or its IPv6 /64
/// (one host usually owns a whole /64); "local" for peers without an IP address.</summary>
internal static class PeerAddress
{
    public static string Of(EndPoint? endPoint)
    {
        if (endPoint is not IPEndPoint { Address: var address })
        {
            return "local";
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }

        byte[] bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new IPAddress(bytes) + "/64";
    }
}
