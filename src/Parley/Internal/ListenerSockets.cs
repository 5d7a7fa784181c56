using System.Net.Sockets;

namespace Parley.Internal;

/// <summary>Socket options of a listening socket that .NET does not express portably.</summary>
internal static class ListenerSockets
{
    // <sys/socket.h>: SOL_SOCKET and SO_REUSEADDR differ between Linux and the BSDs (macOS).
    private const int LinuxSolSocket = 1;
    private const int LinuxReuseAddress = 2;
    private const int BsdSolSocket = 0xFFFF;
    private const int BsdReuseAddress = 0x0004;

    /// <summary>
    /// Lets a restarted server bind a port whose old connections are in TIME_WAIT, and only
    /// that unless <paramref name="sharePort"/>. .NET's <see cref="SocketOptionName.ReuseAddress"/>
    /// sets SO_REUSEPORT as well on Unix, which lets a second server bind the same port and
    /// take half the connections; so SO_REUSEADDR alone is set here as a raw option.
    /// </summary>
    public static void AllowRebind(Socket listener, bool sharePort)
    {
        if (sharePort)
        {
            // SO_REUSEADDR + SO_REUSEPORT on Unix: the kernel balances connections across listeners.
            listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        }
        else if (OperatingSystem.IsLinux())
        {
            listener.SetRawSocketOption(LinuxSolSocket, LinuxReuseAddress, BitConverter.GetBytes(1));
        }
        else if (OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD())
        {
            listener.SetRawSocketOption(BsdSolSocket, BsdReuseAddress, BitConverter.GetBytes(1));
        }

        // Windows: a listening port in TIME_WAIT can be bound again without any option, and
        // SO_REUSEADDR there would let another process steal the port; set nothing.
    }
}
