using System.Net;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Parley;

/// <summary>
/// TLS over any <see cref="ConnectionListener"/>, as a listener: for servers that take a
/// listener but do not run TLS themselves (Parley.Http's <c>HttpServer</c>, so the chat page and
/// its WebSocket are served over HTTPS). Each accepted connection's handshake runs on its own,
/// beside the others, so a slow or silent client never holds up the next; only finished
/// handshakes are handed out by <see cref="AcceptAsync"/>.
/// </summary>
/// <remarks>
/// Limits come from <see cref="TlsServerOptions"/>: <see cref="TlsServerOptions.HandshakeTimeout"/>
/// per handshake, <see cref="TlsServerOptions.MaxConcurrentHandshakes"/> at once (past it a new
/// connection is closed at once), <see cref="TlsServerOptions.MaxHandshakesPerAddress"/> from one
/// address. A <see cref="ParleyServer"/> needs none of this: give it the TLS options with
/// <see cref="ParleyServerOptions.Listen(ConnectionListener, TlsServerOptions?)"/>.
/// </remarks>
public sealed partial class TlsConnectionListener : ConnectionListener
{
    private readonly ConnectionListener _inner;
    private readonly TlsServerOptions _tls;
    private readonly ILogger _logger;
    private readonly Channel<Transport> _ready = Channel.CreateUnbounded<Transport>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stopping = new();
    private readonly Dictionary<IPAddress, int> _perAddress = [];
    private int _handshakes;
    private Task? _acceptLoop;

    /// <summary>Wraps <paramref name="inner"/>; the wrapper owns it and disposes it.</summary>
    public TlsConnectionListener(ConnectionListener inner, TlsServerOptions tls, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(tls);
        _inner = inner;
        _tls = tls;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<TlsConnectionListener>();
    }

    /// <inheritdoc/>
    public override string Address => $"tls+{_inner.Address}";

    /// <inheritdoc/>
    public override EndPoint? LocalEndPoint => _inner.LocalEndPoint;

    /// <summary>Handshakes under way.</summary>
    public int HandshakesInProgress => Volatile.Read(ref _handshakes);

    /// <inheritdoc/>
    public override void Start()
    {
        _inner.Start();
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <inheritdoc/>
    public override async ValueTask<Transport> AcceptAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            return await _ready.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            throw new ObjectDisposedException(nameof(TlsConnectionListener));
        }
    }

    /// <inheritdoc/>
    public override void Dispose()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        _stopping.Cancel(); // handshakes under way end now
        _inner.Dispose();
        _ready.Writer.TryComplete();
        while (_ready.Reader.TryRead(out Transport? waiting))
        {
            waiting.Dispose();
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Transport transport;
            try
            {
                transport = await _inner.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (Exception ex)
            {
                LogAcceptFailed(_logger, _inner.Address, ex.Message);
                await Task.Delay(100).ConfigureAwait(false);
                continue;
            }

            IPAddress? address = (transport.RemoteEndPoint as IPEndPoint)?.Address;
            if (!TryTakeSlot(address))
            {
                LogTooManyHandshakes(_logger, transport.RemoteEndPoint);
                transport.Dispose();
                continue;
            }

            _ = HandshakeAsync(transport, address);
        }
    }

    private async Task HandshakeAsync(Transport transport, IPAddress? address)
    {
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            deadline.CancelAfter(_tls.HandshakeTimeout);
#pragma warning disable CA2000 // Handed to the ready queue (whoever accepts it owns it), or disposed below.
            TlsTransport secured = await TlsTransport.AuthenticateAsServerAsync(transport, _tls, deadline.Token).ConfigureAwait(false);
#pragma warning restore CA2000
            if (!_ready.Writer.TryWrite(secured))
            {
                secured.Dispose(); // stopped meanwhile
            }
        }
        catch (Exception ex)
        {
            // The transport is disposed by the failed handshake; a stranger's failure is routine.
            LogHandshakeFailed(_logger, transport.RemoteEndPoint, ex.Message);
        }
        finally
        {
            ReleaseSlot(address);
        }
    }

    private bool TryTakeSlot(IPAddress? address)
    {
        lock (_perAddress)
        {
            if (_handshakes >= _tls.MaxConcurrentHandshakes)
            {
                return false;
            }

            if (address is not null)
            {
                _perAddress.TryGetValue(address, out int count);
                if (count >= _tls.MaxHandshakesPerAddress)
                {
                    return false;
                }

                _perAddress[address] = count + 1;
            }

            _handshakes++;
            return true;
        }
    }

    private void ReleaseSlot(IPAddress? address)
    {
        lock (_perAddress)
        {
            _handshakes--;
            if (address is not null && _perAddress.TryGetValue(address, out int count))
            {
                if (count <= 1)
                {
                    _perAddress.Remove(address);
                }
                else
                {
                    _perAddress[address] = count - 1;
                }
            }
        }
    }

    [LoggerMessage(1, LogLevel.Warning, "TLS listener on {Address}: accept failed: {Error}")]
    private static partial void LogAcceptFailed(ILogger logger, string address, string error);

    [LoggerMessage(2, LogLevel.Debug, "TLS handshake from {RemoteEndPoint} refused: too many handshakes under way (in all, or from that address)")]
    private static partial void LogTooManyHandshakes(ILogger logger, EndPoint? remoteEndPoint);

    [LoggerMessage(3, LogLevel.Debug, "TLS handshake from {RemoteEndPoint} failed: {Error}")]
    private static partial void LogHandshakeFailed(ILogger logger, EndPoint? remoteEndPoint, string error);
}
