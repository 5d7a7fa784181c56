namespace Parley.Ipc;

/// <summary>
/// Lets a <see cref="ParleyServer"/> accept shared-memory connections: set
/// <see cref="ParleyServerOptions.Listen"/> to one. Each connection is a <see cref="Connection"/>
/// like any other (framing, send queues, groups, events), its bytes carried by a ring pair.
/// </summary>
/// <param name="name">The name clients connect to (<see cref="IpcConnectionDialer"/>).</param>
/// <param name="options">Ring size, wait strategy, directory; defaults when null.</param>
public sealed class IpcConnectionListener(string name, IpcOptions? options = null) : ConnectionListener
{
    private readonly IpcOptions _options = options ?? new IpcOptions();
    private IpcListener? _listener;

    /// <inheritdoc />
    public override string Address => $"ipc:{name}";

    /// <inheritdoc />
    public override void Start() => _listener = IpcListener.Listen(name, _options);

    /// <inheritdoc />
    public override async ValueTask<Transport> AcceptAsync(CancellationToken cancellationToken = default)
    {
        IpcListener listener = _listener ?? throw new InvalidOperationException("The listener is not started.");
        IpcChannel channel = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
        return new IpcTransport(channel, _options);
    }

    /// <inheritdoc />
    public override void Dispose() => _listener?.Dispose();
}

/// <summary>
/// Lets a <see cref="ParleyClient"/> connect over shared memory: set
/// <see cref="ParleyClientOptions.Dialer"/> to one.
/// </summary>
/// <param name="name">The name the server listens on.</param>
/// <param name="options">Wait strategy, directory; defaults when null (the ring size is the server's).</param>
public sealed class IpcConnectionDialer(string name, IpcOptions? options = null) : ConnectionDialer
{
    private readonly IpcOptions _options = options ?? new IpcOptions();

    /// <inheritdoc />
    public override string Address => $"ipc:{name}";

    /// <inheritdoc />
    public override async ValueTask<Transport> ConnectAsync(CancellationToken cancellationToken = default)
    {
        IpcChannel channel = await IpcChannel.ConnectAsync(name, _options, cancellationToken).ConfigureAwait(false);
        return new IpcTransport(channel, _options);
    }
}
