using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace Parley.Ipc;

/// <summary>
/// The rendezvous: a Unix domain socket at <c>DIR/NAME.sock</c>. The server answers each
/// connection with the path of a fresh region; the client maps it and confirms; the server
/// unlinks the file. The socket then stays open only so each side learns at once when the other
/// process goes away (the kernel closes it). Format in docs/wire-formats.md.
/// </summary>
internal static class Handshake
{
    public const int StatusOk = 0;
    public const int StatusFull = 1;
    private const int OfferHeaderSize = 8 + 4 + 4 + 4 + 4 + 2;  // magic, version, status, capacity, server pid, path length
    private const int ConfirmSize = 8 + 4 + 4;                   // magic, client pid, wait strategy

    public static string SocketPath(string name, IpcOptions options) => Path.Combine(options.SocketDirectory, name + ".sock");

    public static async Task<IpcChannel> ConnectAsync(string name, IpcOptions options, CancellationToken cancellationToken)
    {
        if (!Futex.IsSupported)
        {
            throw new PlatformNotSupportedException("Parley shared-memory IPC needs Linux (futex, /dev/shm).");
        }

        IpcOptions.ValidateName(name);
        options.Validate();
        string path = SocketPath(name, options);
#pragma warning disable CA2000 // Owned by the channel on success, disposed in the catch on failure.
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
#pragma warning restore CA2000
        SharedRegion? region = null;
        IpcChannel? channel = null;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(options.HandshakeTimeout);
        try
        {
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), deadline.Token).ConfigureAwait(false);
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.AddressNotAvailable or SocketError.ConnectionRefused or SocketError.AccessDenied)
            {
                throw new IpcException($"No IPC server listens on '{name}' ({path}): {ex.Message}", ex);
            }

            byte[] header = new byte[OfferHeaderSize];
            await ReceiveExactlyAsync(socket, header, deadline.Token).ConfigureAwait(false);
            if (BinaryPrimitives.ReadUInt64LittleEndian(header) != RegionLayout.Magic
                || BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(8)) != RegionLayout.Version)
            {
                throw new IpcException($"The server on '{name}' does not speak Parley IPC version {RegionLayout.Version}.");
            }

            if (BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(12)) == StatusFull)
            {
                throw new IpcException($"The IPC server on '{name}' has no room for another connection.");
            }

            int capacity = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(16));
            int pathLength = BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(24));
            byte[] regionPath = new byte[pathLength];
            await ReceiveExactlyAsync(socket, regionPath, deadline.Token).ConfigureAwait(false);
#pragma warning disable CA2000 // Owned by the channel on success, disposed in the catch on failure.
            region = SharedRegion.Open(Encoding.UTF8.GetString(regionPath), capacity);
#pragma warning restore CA2000

            byte[] confirm = new byte[ConfirmSize];
            BinaryPrimitives.WriteUInt64LittleEndian(confirm, RegionLayout.Magic);
            BinaryPrimitives.WriteInt32LittleEndian(confirm.AsSpan(8), Environment.ProcessId);
            BinaryPrimitives.WriteInt32LittleEndian(confirm.AsSpan(12), (int)options.WaitStrategy);
            channel = new IpcChannel(region, side: 1, socket, options, name);
            await socket.SendAsync(confirm, SocketFlags.None, deadline.Token).ConfigureAwait(false);
            return channel;
        }
        catch (Exception ex)
        {
            if (channel is not null)
            {
                channel.Dispose();
            }
            else
            {
                region?.Dispose();
                socket.Dispose();
            }

            if (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                throw new IpcException($"No IPC handshake with '{name}' within {options.HandshakeTimeout}.", ex);
            }

            if (ex is IpcException or OperationCanceledException)
            {
                throw;
            }

            throw new IpcException($"Could not connect to IPC server '{name}': {ex.Message}", ex);
        }
    }

    /// <summary>Offers the region at <paramref name="regionPath"/> to a just-accepted client and waits for it to map it.</summary>
    public static async Task OfferAsync(Socket socket, string regionPath, int capacity, CancellationToken cancellationToken)
    {
        byte[] path = Encoding.UTF8.GetBytes(regionPath);
        byte[] offer = new byte[OfferHeaderSize + path.Length];
        WriteOfferHeader(offer, StatusOk, capacity, path.Length);
        path.CopyTo(offer, OfferHeaderSize);
        await socket.SendAsync(offer, SocketFlags.None, cancellationToken).ConfigureAwait(false);

        byte[] confirm = new byte[ConfirmSize];
        await ReceiveExactlyAsync(socket, confirm, cancellationToken).ConfigureAwait(false);
        if (BinaryPrimitives.ReadUInt64LittleEndian(confirm) != RegionLayout.Magic)
        {
            throw new IpcException("The IPC client sent a malformed confirmation.");
        }
    }

    /// <summary>Tells a client the server is full; it closes the socket afterwards.</summary>
    public static async Task RefuseAsync(Socket socket, CancellationToken cancellationToken)
    {
        byte[] offer = new byte[OfferHeaderSize];
        WriteOfferHeader(offer, StatusFull, 0, 0);
        await socket.SendAsync(offer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
    }

    private static void WriteOfferHeader(Span<byte> offer, int status, int capacity, int pathLength)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(offer, RegionLayout.Magic);
        BinaryPrimitives.WriteInt32LittleEndian(offer[8..], RegionLayout.Version);
        BinaryPrimitives.WriteInt32LittleEndian(offer[12..], status);
        BinaryPrimitives.WriteInt32LittleEndian(offer[16..], capacity);
        BinaryPrimitives.WriteInt32LittleEndian(offer[20..], Environment.ProcessId);
        BinaryPrimitives.WriteUInt16LittleEndian(offer[24..], checked((ushort)pathLength));
    }

    private static async Task ReceiveExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (!buffer.IsEmpty)
        {
            int read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new IpcException("The IPC peer closed the rendezvous socket during the handshake.");
            }

            buffer = buffer[read..];
        }
    }
}
