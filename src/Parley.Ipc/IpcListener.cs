using System.Net.Sockets;
using System.Threading.Channels;

namespace Parley.Ipc;

/// <summary>
/// Listens on a name for shared-memory connections; each accepted client gets its own region
/// (a ring pair) and an <see cref="IpcChannel"/>. Linux only (futex wake-ups, <c>/dev/shm</c>).
/// </summary>
/// <remarks>
/// The name is a Unix domain socket at <c>IpcOptions.Directory/NAME.sock</c>: a stale one left
/// by a crashed server is replaced; one that still answers makes <see cref="Listen"/> fail.
/// Clients are accepted and their handshakes run concurrently from the moment the listener
/// starts, so a client that stalls its handshake holds up nobody else; finished channels wait
/// for <see cref="AcceptAsync"/> (they count against <see cref="IpcOptions.MaxConnections"/>).
/// </remarks>
public sealed class IpcListener : IDisposable
{
    private readonly IpcOptions _options;
    private readonly Socket _socket;
    private readonly List<IpcChannel> _channels = []; // open channels, accepted or waiting in _accepted
    private readonly Channel<IpcChannel> _accepted = Channel.CreateUnbounded<IpcChannel>(); // bounded by MaxConnections
    private readonly CancellationTokenSource _stopping = new();
    private int _handshaking; // under _channels' lock: handshakes in progress, counted against MaxConnections
    private long _regions;
    private int _disposed;

    private IpcListener(string name, IpcOptions options, Socket socket, string socketPath)
    {
        Name = name;
        _options = options;
        _socket = socket;
        SocketPath = socketPath;
        _ = AcceptLoopAsync();
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
    /// The next client whose handshake has completed. Clients that fail the handshake (time
    /// out, disconnect, answer garbage) are dropped without being seen here; one beyond
    /// <see cref="IpcOptions.MaxConnections"/> is told the server is full.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The listener was disposed.</exception>
    public async Task<IpcChannel> AcceptAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        try
        {
            return await _accepted.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            throw new ObjectDisposedException(nameof(IpcListener));
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (Volatile.Read(ref _disposed) == 0)
        {
            Socket client;
            try
            {
                client = await _socket.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                break;
            }
            catch (SocketException)
            {
                // Out of descriptors or a connection reset before it was accepted: try again shortly.
                await Task.Delay(50).ConfigureAwait(false);
                continue;
            }

            _ = HandshakeAsync(client);
        }

        _accepted.Writer.TryComplete();
    }

    private async Task HandshakeAsync(Socket client)
    {
        IpcChannel? channel = await TryHandshakeAsync(client).ConfigureAwait(false);
        if (channel is not null && !_accepted.Writer.TryWrite(channel))
        {
            channel.Dispose(); // the listener stopped meanwhile
        }
    }

    private async Task<IpcChannel?> TryHandshakeAsync(Socket client)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        deadline.CancelAfter(_options.HandshakeTimeout);
        if (!TryReserve())
        {
            try
            {
                await Handshake.RefuseAsync(client, deadline.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // The refused client left first; nothing to tell it.
            }

            client.Dispose();
            return null;
        }

        string path = Path.Combine(IpcOptions.RegionDirectory, $"parley-ipc.{Name}.{Environment.ProcessId}.{Interlocked.Increment(ref _regions)}");
        SharedRegion? region = null;
        IpcChannel? channel = null;
        try
        {
#pragma warning disable CA2000 // Owned by the channel created below, or disposed in the catch.
            region = SharedRegion.Create(path, _options.RingCapacity);
#pragma warning restore CA2000
            await Handshake.OfferAsync(client, path, _options.RingCapacity, deadline.Token).ConfigureAwait(false);
            channel = new IpcChannel(region, side: 0, client, _options, Name);
            return channel;
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or IpcException or IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            // This client only: a timeout, a disconnect, garbage, or no room in /dev/shm. A
            // client that already mapped the region reads "closed" rather than "died".
            if (region is not null)
            {
                region.MarkClosed(side: 0);
                region.Dispose();
            }

            client.Dispose();
            return null;
        }
        finally
        {
            File.Delete(path); // mapped by both sides now (or never): the name is no longer needed
            lock (_channels)
            {
                _handshaking--;
                if (channel is not null)
                {
                    _channels.Add(channel);
                }
            }
        }
    }

    // Takes a place for one more connection, or false when open channels and handshakes in progress fill MaxConnections.
    private bool TryReserve()
    {
        lock (_channels)
        {
            _channels.RemoveAll(channel => channel.CloseReason != CloseReason.None);
            if (_channels.Count + _handshaking >= _options.MaxConnections)
            {
                return false;
            }

            _handshaking++;
            return true;
        }
    }

    /// <summary>Stops listening and removes the name. Channels already accepted stay open.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _stopping.Cancel();
        _socket.Dispose();
        File.Delete(SocketPath);
        _accepted.Writer.TryComplete();
        while (_accepted.Reader.TryRead(out IpcChannel? waiting))
        {
            waiting.Dispose(); // finished its handshake but was never accepted
        }
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
