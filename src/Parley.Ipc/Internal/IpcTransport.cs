using System.Net;
using System.Net.Sockets;


namespace Parley.Ipc;

/// <summary>
/// A <see cref="Transport"/> over an <see cref="IpcChannel"/>: each ring carries one byte
/// stream cut into records, so the <see cref="Connection"/> above frames messages exactly as it
/// does over TCP and messages of any size fit. Waits spin on the caller's thread up to
/// <see cref="IpcOptions.SpinDuration"/>, then go to the connection's <see cref="ChannelWaiter"/>.
/// </summary>
internal sealed class IpcTransport : Transport
{
    private readonly IpcChannel _channel;
    private readonly ChannelWaiter _waiter;
    private readonly long _spinTicks;
    private int _disposed;

    public IpcTransport(IpcChannel channel, IpcOptions options)
    {
        _channel = channel;
        _channel.AdvertiseSleep(); // every strategy's waits end in the wait thread here, which the peer must wake
        _waiter = new ChannelWaiter(channel);
        _spinTicks = (long)(options.SpinDuration.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
        var local = new IpcEndPoint(channel.Name, Environment.ProcessId);
        var remote = new IpcEndPoint(channel.Name, channel.PeerProcessId);
        LocalEndPoint = local;
        RemoteEndPoint = remote;
    }

    public override EndPoint? LocalEndPoint { get; }

    public override EndPoint? RemoteEndPoint { get; }

    public override int AvailableBytes => 0; // unknown: liveness then relies on the peer's keep-alives, as for TLS

    public override async ValueTask<int> ReceiveAsync(Memory<byte> buffer)
    {
        while (true)
        {
            if (buffer.IsEmpty)
            {
                if (HasInput())
                {
                    return 0;
                }
            }
            else
            {
                int read = Read(buffer.Span);
                if (read != 0)
                {
                    return Math.Max(read, 0); // −1: the peer's end of stream
                }
            }

            if (!SpinFor(static c => c.HasInput()))
            {
                await _waiter.WaitForInputAsync().ConfigureAwait(false);
            }
        }
    }

    public override async ValueTask<int> SendAsync(ReadOnlyMemory<byte> buffer)
    {
        int sent = 0;
        while (sent < buffer.Length)
        {
            int written = Write(buffer.Span[sent..]);
            sent += written;
            if (written == 0 && !SpinFor(static c => c.HasRoom()))
            {
                await _waiter.WaitForRoomAsync().ConfigureAwait(false);
            }
        }

        return buffer.Length;
    }

    public override ValueTask ShutdownSendAsync()
    {
        _channel.ShutdownWrite();
        return ValueTask.CompletedTask;
    }

    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _channel.Dispose(); // wakes the waiter's sleep
        _waiter.Dispose();
    }

    private int Read(Span<byte> destination)
    {
        try
        {
            return _channel.TryReadBytes(destination);
        }
        catch (IpcProtocolException ex)
        {
            throw new InvalidDataException(ex.Message, ex); // the connection closes with ProtocolError
        }
        catch (IpcException ex)
        {
            throw AsSocketError(ex);
        }
    }

    private int Write(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return _channel.TryWriteBytes(bytes);
        }
        catch (IpcException ex)
        {
            throw AsSocketError(ex);
        }
    }

    private bool HasInput()
    {
        try
        {
            return _channel.HasInput();
        }
        catch (IpcException ex)
        {
            throw AsSocketError(ex);
        }
    }

    // Polls (never for Block) up to the spin duration; true when the condition came true. A
    // connection has more threads than a raw channel (receive loop, send loop, the application's
    // handlers, on both sides), often more than there are cores, so it yields the core between
    // polls: the peer's threads that must run to produce what is awaited get to run. Measured on
    // two cores with one message in flight: PAUSE between polls 7 400 round trips/s, 64 PAUSEs
    // then yields 31 000–57 000, yields only 51 000–88 000 (docs/benchmarks.md).
    private bool SpinFor(Func<IpcChannel, bool> ready)
    {
        if (_channel.WaitStrategy == IpcWaitStrategy.Block)
        {
            return false;
        }

        long until = System.Diagnostics.Stopwatch.GetTimestamp() + _spinTicks;
        do
        {
            if (ready(_channel))
            {
                return true;
            }

            Thread.Yield();
        }
        while (System.Diagnostics.Stopwatch.GetTimestamp() < until);
        return false;
    }

    // The connection sorts transport errors by socket error: a peer that went away is a reset.
    private static SocketException AsSocketError(IpcException ex) => new(ex.Reason switch
    {
        CloseReason.LocalClose => (int)SocketError.OperationAborted,
        CloseReason.RemoteClose => (int)SocketError.Shutdown,
        _ => (int)SocketError.ConnectionReset,
    });
}

/// <summary>A shared-memory connection's address for logs: <c>ipc:NAME#PID</c>.</summary>
internal sealed class IpcEndPoint(string name, int processId) : EndPoint
{
    public override string ToString() => $"ipc:{name}#{processId}";
}
