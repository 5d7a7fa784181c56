using System.Net.Sockets;

namespace Parley.Ipc;

/// <summary>
/// Listens on a name for shared-memory connections; each accepted client gets its own region
/// (a ring pair) and an <see cref="IpcChannel"/>. Linux only (futex wake-ups, <c>/dev/shm</c>).
/// </summary>
/// <remarks>
/// The name is a Unix domain socket at <c>IpcOptions.Directory/NAME.sock</c>: a stale one left
/// by a crashed server is replaced; one that still answers makes <see cref="Listen"/> fail.
/// <see cref="AcceptAsync"/> may be called by one caller at a time.
/// </remarks>
public sealed class IpcListener : IDisposable
{
    private readonly IpcOptions _options;
    private readonly Socket _socket;
    private readonly List<IpcChannel> _channels = [];
    private long _regions;
    private int _disposed;

    private IpcListener(string name, IpcOptions options, Socket socket, string socketPath)
    {
        Name = name;
        _options = options;
        _socket = socket;
        SocketPath = socketPath;
    }

    /// <summary>The name clients connect to.</summary>
    public string Name { get; }

    /// <summary>The rendezvous socket's path.</summary>
    public string SocketPath { get; }

    /// <summary>Binds the name and starts listening.</summary>
    /// <exception cref="IpcException">Another server listens on the name.</exception>
    /// <exception cref="PlatformNotSupportedException">Not on Linux.</exception>
    public static IpcListener Listen(string name, IpcOptions? options = null)
    {
        if (!Futex.IsSupported)
        {
            throw new PlatformNotSupportedException("Parley shared-memory IPC needs Linux (futex, /dev/shm).");
        }

        IpcOptions.ValidateName(name);
        options ??= new IpcOptions();
        options.Validate();
        if (!OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(options.SocketDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        string path = Handshake.SocketPath(name, options);
        RemoveIfStale(name, path);
        RemoveStaleRegions(name);

        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Bind(new UnixDomainSocketEndPoint(path));
            socket.Listen(64);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new IpcException($"Could not listen on IPC name '{name}' ({path}): {ex.Message}", ex);
        }

        return new IpcListener(name, options, socket, path);
    }

    /// <summary>
    /// Waits for the next client and completes its handshake. A client that fails the handshake
    /// (times out, disconnects, answers garbage) is dropped and the wait goes on; one beyond
    /// <see cref="IpcOptions.MaxConnections"/> is told the server is full.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The listener was disposed.</exception>
    public async Task<IpcChannel> AcceptAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            Socket client = await _socket.AcceptAsync(cancellationToken).ConfigureAwait(false);
            IpcChannel? channel = await TryHandshakeAsync(client, cancellationToken).ConfigureAwait(false);
            if (channel is not null)
            {
                return channel;
            }
        }
    }

    private async Task<IpcChannel?> TryHandshakeAsync(Socket client, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_options.HandshakeTimeout);
        if (OpenConnections() >= _options.MaxConnections)
        {
            try
            {
                await Handshake.RefuseAsync(client, deadline.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException)
            {
                // The refused client left first; nothing to tell it.
            }

            client.Dispose();
            return null;
        }

        string path = Path.Combine(IpcOptions.RegionDirectory, $"parley-ipc.{Name}.{Environment.ProcessId}.{Interlocked.Increment(ref _regions)}");
        SharedRegion? region = null;
        try
        {
#pragma warning disable CA2000 // Owned by the channel created below, or disposed in the catch.
            region = SharedRegion.Create(path, _options.RingCapacity);
#pragma warning restore CA2000
            await Handshake.OfferAsync(client, path, _options.RingCapacity, deadline.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or IpcException or IOException && !cancellationToken.IsCancellationRequested)
        {
            region?.Dispose();
            client.Dispose();
            return null;
        }
        finally
        {
            File.Delete(path); // mapped by both sides now (or never): the name is no longer needed
        }

        var channel = new IpcChannel(region, side: 0, client, _options, Name);
        lock (_channels)
        {
            _channels.Add(channel);
        }

        return channel;
    }

    private int OpenConnections()
    {
        lock (_channels)
        {
            _channels.RemoveAll(channel => channel.CloseReason != IpcCloseReason.None);
            return _channels.Count;
        }
    }

    /// <summary>Stops listening and removes the name. Channels already accepted stay open.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _socket.Dispose();
        File.Delete(SocketPath);
    }

    // A socket file nobody answers on was left by a server that died: take it over.
    private static void RemoveIfStale(string name, string path)
    {
        if (!File.Exists(path))
        {
            return;
        }

        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException)
        {
            File.Delete(path);
            return;
        }

        throw new IpcException($"IPC name '{name}' is in use by another server ({path}).");
    }

    // Regions are unlinked right after the handshake; a server killed mid-handshake can leave one.
    private static void RemoveStaleRegions(string name)
    {
        foreach (string file in Directory.EnumerateFiles(IpcOptions.RegionDirectory, $"parley-ipc.{name}.*"))
        {
            string[] parts = Path.GetFileName(file).Split('.');
            if (parts.Length >= 4 && int.TryParse(parts[^2], out int pid) && !Directory.Exists($"/proc/{pid}"))
            {
                File.Delete(file);
            }
        }
    }
}
