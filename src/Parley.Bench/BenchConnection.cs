using System.Buffers;
using System.Net;

namespace Parley.Bench;

/// <summary>
/// One bench client on the product's own client: a <see cref="ParleyClient"/> with the server's
/// framing, TLS and compression, whose messages are handed to <see cref="OnFrame"/> on the
/// connection's receive loop, one at a time and in order, and whose sends go through the
/// connection's send queue. The bench so measures the client Parley ships, not one of its own.
/// </summary>
/// <remarks>
/// Until issue 17 the bench had its own bare-socket client, because the general client's receive
/// path cost a full core at 1000 clients; docs/architecture.md ("Issue 17: bench on the
/// product's client") says what changed so that it no longer does. Nothing here is shared
/// between connections, so handlers need no locks.
/// </remarks>
internal abstract class BenchConnection : IAsyncDisposable
{
    private readonly ParleyClient _client;
    private byte[] _gathered = [];
    private byte[] _decoded = [];
    private readonly bool _signalR;
    private volatile bool _closed;

    /// <param name="server">The server under test: its address, TLS and compression.</param>
    /// <param name="local">The source address to connect from, or null for any.</param>
    /// <param name="chat">True for the chat protocol (newline-delimited, as <c>parley chat</c>
    /// connects) instead of the length-prefixed framing of <c>parley echo</c>.</param>
    /// <param name="index">The client's number: with several nodes (<c>--targets</c>), which one it connects to.</param>
    protected BenchConnection(ServerUnderTest server, IPEndPoint? local, bool chat = false, int index = -1)
    {
        ParleyClientOptions options = BenchClients.ClientOptions(server, local, index);
        _signalR = server.SignalR;
        if (chat)
        {
            options.Framer = server.WebSocket is null
                ? new Parley.Chat.ChatServerOptions().CreateClientFramer()
                : BenchClients.WebSocketClientOptions(binary: false).CreateFramer(isClient: true);
            options.IdleTimeout = Timeout.InfiniteTimeSpan;
            options.KeepAliveInterval = Timeout.InfiniteTimeSpan;
        }

        _client = new ParleyClient(options);
        _client.MessageReceived += OnMessage;
        _client.Disconnected += OnDisconnected;
    }

    /// <summary>True once the server closed the connection or it failed.</summary>
    public bool Closed => _closed;

    /// <summary>Connects (with TLS when the server speaks it) and starts handing messages to
    /// <see cref="OnFrame"/>; on failure the client is disposed and the error thrown.</summary>
    public async Task ConnectAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _client.ConnectAsync(cancellationToken);
            if (_signalR)
            {
                _client.Send("{\"protocol\":\"json\",\"version\":1}\u001e"u8);
            }
        }
        catch
        {
            await _client.DisposeAsync();
            throw;
        }
    }

    /// <summary>Queues one message (the framer adds the framing). Never blocks.</summary>
    public SendStatus Send(ReadOnlySpan<byte> payload) => _signalR ? SendInvocation(payload) : _client.Send(payload);

    // SignalR's JSON protocol: {"type":1,"target":"Broadcast","arguments":["BASE64"]} then 0x1E.
    private SendStatus SendInvocation(ReadOnlySpan<byte> payload)
    {
        ReadOnlySpan<byte> head = "{\"type\":1,\"target\":\"Broadcast\",\"arguments\":[\""u8;
        ReadOnlySpan<byte> tail = "\"]}\u001e"u8;
        int length = head.Length + System.Buffers.Text.Base64.GetMaxEncodedToUtf8Length(payload.Length) + tail.Length;
        byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(length);
        try
        {
            head.CopyTo(buffer);
            System.Buffers.Text.Base64.EncodeToUtf8(payload, buffer.AsSpan(head.Length), out _, out int written);
            tail.CopyTo(buffer.AsSpan(head.Length + written));
            return _client.Send(buffer.AsSpan(0, head.Length + written + tail.Length));
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    // Each record up to 0x1E: an invocation of "m" carries a payload in base64; pings (type 6),
    // the handshake's answer ({}) and anything else are skipped.
    private void OnSignalRMessage(ReadOnlySpan<byte> message)
    {
        ReadOnlySpan<byte> marker = "\"arguments\":[\""u8;
        while (!message.IsEmpty)
        {
            int end = message.IndexOf((byte)0x1E);
            ReadOnlySpan<byte> record = end < 0 ? message : message[..end];
            message = end < 0 ? [] : message[(end + 1)..];
            int start = record.IndexOf(marker);
            if (start < 0 || record.IndexOf("\"type\":1"u8) < 0)
            {
                continue;
            }

            ReadOnlySpan<byte> encoded = record[(start + marker.Length)..];
            encoded = encoded[..encoded.IndexOf((byte)'"')];
            if (_decoded.Length < encoded.Length)
            {
                _decoded = new byte[encoded.Length];
            }

            System.Buffers.Text.Base64.DecodeFromUtf8(encoded, _decoded, out _, out int decoded);
            OnFrame(_decoded.AsSpan(0, decoded));
        }
    }

    /// <summary>One message's payload, contiguous. Valid only during the call.</summary>
    protected abstract void OnFrame(ReadOnlySpan<byte> payload);

    /// <summary>Called once when the connection ends (the server closed it, it failed, or the run is over).</summary>
    protected virtual void OnClosed()
    {
    }

    private void OnMessage(Connection connection, ReadOnlySequence<byte> message)
    {
        if (message.IsSingleSegment)
        {
            if (_signalR)
            {
                OnSignalRMessage(message.FirstSpan);
                return;
            }

            OnFrame(message.FirstSpan);
            return;
        }

        // Rare: the message straddled two receive segments. Gathered into a buffer this
        // connection keeps, as large as its largest such message.
        int length = (int)message.Length;
        if (_gathered.Length < length)
        {
            _gathered = new byte[Math.Max(length, 2 * _gathered.Length)];
        }

        message.CopyTo(_gathered);
        if (_signalR)
        {
            OnSignalRMessage(_gathered.AsSpan(0, length));
            return;
        }

        OnFrame(_gathered.AsSpan(0, length));
    }

    private void OnDisconnected(Connection connection)
    {
        _closed = true;
        OnClosed();
    }

    /// <summary>Aborts the connection: the run is over, what is still in flight is not counted,
    /// and a graceful close would wait for the server to drain its queue to this client.</summary>
    public async ValueTask DisposeAsync()
    {
        _client.Connection?.Abort();
        await _client.DisposeAsync();
    }
}
