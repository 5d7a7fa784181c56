using System.Diagnostics;
using System.Net;

namespace Parley.Udp;

/// <summary>
/// Loss, duplication, corruption, delay, jitter and reordering in front of a real socket, on
/// the real clock (for <c>parley bench udp --loss --delay</c> and loopback tests). Delayed
/// datagrams wait in a priority queue that a thread releases when due. Seeded, so the pattern of
/// impairments is repeatable even if timing is not.
/// </summary>
internal sealed class DelayLine : IDisposable
{
    public delegate void SendAction(SocketAddress to, ReadOnlySpan<byte> datagram);

    private readonly NetworkConditions _conditions;
    private readonly Random _random;
    private readonly SendAction _send;
    private readonly PriorityQueue<(SocketAddress To, byte[] Bytes), (long Due, long Order)> _queue = new();
    private readonly Thread _thread;
    private readonly AutoResetEvent _signal = new(false);
    private long _order;
    private volatile bool _stopping;

    public DelayLine(NetworkConditions conditions, int seed, SendAction send)
    {
        _conditions = conditions;
        _random = new Random(seed);
        _send = send;
        _thread = new Thread(Pump) { IsBackground = true, Name = "parley-udp-delay" };
        _thread.Start();
    }

    public long Lost { get; private set; }

    public void Submit(SocketAddress to, ReadOnlySpan<byte> datagram)
    {
        if (_random.NextDouble() < _conditions.Loss)
        {
            Lost++;
            return;
        }

        int copies = _random.NextDouble() < _conditions.Duplication ? 2 : 1;
        for (int i = 0; i < copies; i++)
        {
            byte[] bytes = datagram.ToArray();
            if (bytes.Length > 0 && _random.NextDouble() < _conditions.Corruption)
            {
                int bit = _random.Next(bytes.Length * 8);
                bytes[bit / 8] ^= (byte)(1 << (bit % 8));
            }

            TimeSpan delay = _conditions.Delay + (_conditions.Jitter * _random.NextDouble());
            if (_random.NextDouble() < _conditions.Reorder)
            {
                delay += _conditions.Jitter + TimeSpan.FromMilliseconds(1);
            }

            if (delay <= TimeSpan.Zero)
            {
                _send(to, bytes);
                continue;
            }

            lock (_queue)
            {
                _queue.Enqueue((to, bytes), (Stopwatch.GetTimestamp() + (long)(delay.TotalSeconds * Stopwatch.Frequency), _order++));
            }

            _signal.Set();
        }
    }

    private void Pump()
    {
        while (!_stopping)
        {
            (SocketAddress To, byte[] Bytes) next = default;
            long wait;
            lock (_queue)
            {
                if (_queue.TryPeek(out next, out (long Due, long Order) due))
                {
                    wait = due.Due - Stopwatch.GetTimestamp();
                    if (wait <= 0)
                    {
                        _queue.Dequeue();
                    }
                }
                else
                {
                    wait = Stopwatch.Frequency / 10;
                }
            }

            if (wait <= 0)
            {
                _send(next.To, next.Bytes);
                continue;
            }

            // Whole milliseconds, at least one: a shorter wait would spin a core the hosts need.
            _signal.WaitOne(TimeSpan.FromMilliseconds(Math.Clamp(Math.Ceiling(wait * 1000.0 / Stopwatch.Frequency), 1, 100)));
        }
    }

    public void Dispose()
    {
        _stopping = true;
        _signal.Set();
        _thread.Join();
        _signal.Dispose();
    }
}
