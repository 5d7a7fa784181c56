using System.Net.Sockets;
using System.Threading.Channels;

namespace Parley;

/// <summary>
/// A listener that clients in the same process dial through <see cref="CreateDialer"/>, each
/// connection an <see cref="InMemoryTransport"/> pair: a whole server and its clients with no
/// sockets, for tests and in-process peers.
/// </summary>
/// <param name="name">A name for logs (<c>memory:NAME</c>).</param>
/// <param name="backlog">Dialed connections not accepted yet; one more is refused with
/// <see cref="SocketError.ConnectionRefused"/>, as a full TCP backlog would. Default 512.</param>
public sealed class InMemoryConnectionListener(string name, int backlog = 512) : ConnectionListener
{
    private readonly Channel<InMemoryTransport> _pending = Channel.CreateBounded<InMemoryTransport>(
        new BoundedChannelOptions(backlog > 0 ? backlog : throw new ArgumentOutOfRangeException(nameof(backlog), backlog, "The backlog must be positive."))
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });

    private int _state; // 0 new, 1 started, 2 disposed

    /// <inheritdoc />
    public override string Address => $"memory:{name}";

    /// <inheritdoc />
    public override void Start()
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            ObjectDisposedException.ThrowIf(_state == 2, this);
            throw new InvalidOperationException("The listener is started already.");
        }
    }

    /// <inheritdoc />
    public override async ValueTask<Transport> AcceptAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            return await _pending.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            throw new ObjectDisposedException(Address);
        }
    }

    /// <summary>A dialer whose every connection arrives at this listener.</summary>
    public ConnectionDialer CreateDialer() => new Dialer(this);

    /// <inheritdoc />
    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _state, 2) == 2)
        {
            return;
        }

        _pending.Writer.TryComplete();
        while (_pending.Reader.TryRead(out InMemoryTransport? unaccepted))
        {
            unaccepted.Dispose(); // the dialer's end sees a reset
        }
    }

    private InMemoryTransport Dial()
    {
        if (Volatile.Read(ref _state) != 1)
        {
            throw new SocketException((int)SocketError.ConnectionRefused);
        }

        (InMemoryTransport client, InMemoryTransport server) = InMemoryTransport.CreatePair();
        if (!_pending.Writer.TryWrite(server))
        {
            client.Dispose();
            server.Dispose();
            throw new SocketException((int)SocketError.ConnectionRefused);
        }

        return client;
    }

    private sealed class Dialer(InMemoryConnectionListener listener) : ConnectionDialer
    {
        public override string Address => listener.Address;

        public override ValueTask<Transport> ConnectAsync(CancellationToken cancellationToken = default)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return ValueTask.FromResult<Transport>(listener.Dial());
        }
    }
}
