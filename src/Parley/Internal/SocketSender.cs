using System.Net.Sockets;
using System.Threading.Tasks.Sources;

namespace Parley.Internal;

/// <summary>
/// A reusable, awaitable gather-write (one <c>sendmsg</c> with many buffers) over
/// <see cref="SocketAsyncEventArgs"/>. One instance per connection; one send at a time.
/// </summary>
internal sealed class SocketSender : SocketAsyncEventArgs, IValueTaskSource<int>
{
    private ManualResetValueTaskSourceCore<int> _source;

    public SocketSender()
        : base(unsafeSuppressExecutionContextFlow: true)
    {
    }

    public ValueTask<int> SendAsync(Socket socket, IList<ArraySegment<byte>> buffers)
    {
        _source.Reset();
        BufferList = buffers;
        if (socket.SendAsync(this))
        {
            return new ValueTask<int>(this, _source.Version);
        }

        // Completed synchronously: no continuation was scheduled.
        return SocketError == SocketError.Success
            ? new ValueTask<int>(BytesTransferred)
            : ValueTask.FromException<int>(new SocketException((int)SocketError));
    }

    protected override void OnCompleted(SocketAsyncEventArgs e)
    {
        if (SocketError == SocketError.Success)
        {
            _source.SetResult(BytesTransferred);
        }
        else
        {
            _source.SetException(new SocketException((int)SocketError));
        }
    }

    int IValueTaskSource<int>.GetResult(short token) => _source.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _source.GetStatus(token);

    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _source.OnCompleted(continuation, state, token, flags);
}
