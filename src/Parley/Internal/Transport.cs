using System.Net;

namespace Parley.Internal;

/// <summary>
/// A bidirectional byte stream under a <see cref="Connection"/>. It knows nothing of frames.
/// Sockets today; the in-memory and shared-memory transports plug in here.
/// </summary>
/// <remarks>
/// One receive and one send may be in flight at once (from the connection's two loops).
/// <see cref="Dispose"/> may be called from any thread and makes pending operations fail.
/// Errors: a <see cref="System.Net.Sockets.SocketException"/> for a peer that reset or went
/// away (the connection reports <see cref="CloseReason.ConnectionReset"/>), an
/// <see cref="InvalidDataException"/> for a peer that broke the transport's own protocol
/// (<see cref="CloseReason.ProtocolError"/>); anything else is a <see cref="CloseReason.TransportError"/>.
/// </remarks>
internal abstract class Transport : IDisposable
{
    public abstract EndPoint? LocalEndPoint { get; }

    public abstract EndPoint? RemoteEndPoint { get; }

    /// <summary>Receives into <paramref name="buffer"/>; 0 means the peer finished sending.
    /// An empty buffer waits for data without consuming it.</summary>
    public abstract ValueTask<int> ReceiveAsync(Memory<byte> buffer);

    /// <summary>Writes one buffer entirely.</summary>
    public abstract ValueTask<int> SendAsync(ReadOnlyMemory<byte> buffer);

    /// <summary>Bytes received by the operating system and not yet read; 0 when unknown or closed.</summary>
    public abstract int AvailableBytes { get; }

    /// <summary>Signals the end of this side's data (FIN; for TLS first a close_notify) after what was written.</summary>
    public abstract ValueTask ShutdownSendAsync();

    public abstract void Dispose();
}
