using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace Parley.Contract.Tests;

/// <summary>
/// A transport written the way a third party would, from the public contract alone: two
/// System.IO.Pipelines pipes, one per direction. Dispose is a reset (the peer's read fails);
/// ShutdownSendAsync is a FIN (the peer reads 0).
/// </summary>
internal sealed class PipeTransport : Transport
{
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly SemaphoreSlim _writing = new(1, 1);
    private int _disposed;
    private int _outputDone;

    private PipeTransport(PipeReader input, PipeWriter output, string local, string remote)
    {
        _input = input;
        _output = output;
        LocalEndPoint = new NamedEndPoint(local);
        RemoteEndPoint = new NamedEndPoint(remote);
    }

    public override EndPoint? LocalEndPoint { get; }

    public override EndPoint? RemoteEndPoint { get; }

    /// <summary>True once disposed (aborted).</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>Counts every byte this side sent, to show traffic really went through this transport.</summary>
    public long BytesSent;

    public static (PipeTransport A, PipeTransport B) CreatePair(string a, string b)
    {
        var options = new PipeOptions(pauseWriterThreshold: 64 * 1024, resumeWriterThreshold: 32 * 1024, useSynchronizationContext: false);
        var ab = new Pipe(options);
        var ba = new Pipe(options);
        return (new PipeTransport(ba.Reader, ab.Writer, a, b), new PipeTransport(ab.Reader, ba.Writer, b, a));
    }

    public override async ValueTask<int> ReceiveAsync(Memory<byte> buffer)
    {
        ReadResult result;
        try
        {
            result = await _input.ReadAsync();
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException)
        {
            throw new SocketException((int)SocketError.ConnectionReset);
        }

        if (result.IsCanceled || Volatile.Read(ref _disposed) != 0)
        {
            _input.AdvanceTo(result.Buffer.Start);
            throw new SocketException((int)SocketError.OperationAborted);
        }

        if (buffer.IsEmpty || result.Buffer.IsEmpty)
        {
            _input.AdvanceTo(result.Buffer.Start);
            return 0;
        }

        int length = (int)Math.Min(buffer.Length, result.Buffer.Length);
        result.Buffer.Slice(0, length).CopyTo(buffer.Span);
        _input.AdvanceTo(result.Buffer.GetPosition(length));
        return length;
    }

    public override async ValueTask<int> SendAsync(ReadOnlyMemory<byte> buffer)
    {
        await _writing.WaitAsync();
        try
        {
            if (Volatile.Read(ref _outputDone) != 0)
            {
                throw new SocketException((int)SocketError.Shutdown);
            }

            FlushResult result = await _output.WriteAsync(buffer);
            if (result.IsCanceled || result.IsCompleted)
            {
                throw new SocketException((int)SocketError.ConnectionReset);
            }

            Interlocked.Add(ref BytesSent, buffer.Length);
            return buffer.Length;
        }
        finally
        {
            _writing.Release();
        }
    }

    public override async ValueTask ShutdownSendAsync()
    {
        await _writing.WaitAsync();
        try
        {
            if (Interlocked.Exchange(ref _outputDone, 1) == 0)
            {
                await _output.CompleteAsync();
            }
        }
        finally
        {
            _writing.Release();
        }
    }

    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _input.CancelPendingRead();
        _output.CancelPendingFlush();
        _ = Task.Run(async () =>
        {
            // Completing the writer must not race a write in progress: wait for it to end.
            await _writing.WaitAsync();
            if (Interlocked.Exchange(ref _outputDone, 1) == 0)
            {
                await _output.CompleteAsync(new IOException("reset"));
            }

            _writing.Release();
        });
    }

    private sealed class NamedEndPoint(string name) : EndPoint
    {
        public override string ToString() => name;
    }
}

/// <summary>A listener and dialer pair over <see cref="PipeTransport"/>, from the public contract alone.</summary>
internal sealed class PipeListener(string name) : ConnectionListener
{
    private readonly Channel<PipeTransport> _incoming = Channel.CreateBounded<PipeTransport>(16);
    private int _clients;

    public bool Started { get; private set; }

    public bool Disposed { get; private set; }

    public List<PipeTransport> ServerEnds { get; } = [];

    public override string Address => $"pipe:{name}";

    public override void Start() => Started = true;

    public override async ValueTask<Transport> AcceptAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            return await _incoming.Reader.ReadAsync(cancellationToken);
        }
        catch (ChannelClosedException)
        {
            throw new ObjectDisposedException(Address);
        }
    }

    public override void Dispose()
    {
        Disposed = true;
        _incoming.Writer.TryComplete();
    }

    public ConnectionDialer Dialer(string? host = null) => new PipeDialer(this, host);

    private sealed class PipeDialer(PipeListener listener, string? host) : ConnectionDialer
    {
        public override string Address => listener.Address;

        public override string? Host => host;

        public override async ValueTask<Transport> ConnectAsync(CancellationToken cancellationToken = default)
        {
            if (!listener.Started || listener.Disposed)
            {
                throw new SocketException((int)SocketError.ConnectionRefused);
            }

            int id = Interlocked.Increment(ref listener._clients);
            (PipeTransport client, PipeTransport server) = PipeTransport.CreatePair($"pipe-client:{id}", $"pipe-server:{id}");
            lock (listener.ServerEnds)
            {
                listener.ServerEnds.Add(server);
            }

            await listener._incoming.Writer.WriteAsync(server, cancellationToken);
            return client;
        }
    }
}
