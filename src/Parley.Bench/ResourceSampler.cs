using System.Globalization;

namespace Parley.Bench;

/// <summary>
/// Samples a process's resident memory and CPU time from /proc every half second:
/// peak and average RSS, average CPU (100 % = one core).
/// </summary>
internal sealed class ResourceSampler : IAsyncDisposable
{
    private static readonly double TicksPerSecond = 100.0; // USER_HZ on Linux
    private readonly int _pid;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly List<(long Timestamp, double RssMb)> _samples = [];
    private double _firstCpuSeconds = double.NaN;
    private long _firstTimestamp;
    private double _lastCpuSeconds;
    private long _lastTimestamp;

    public ResourceSampler(int pid)
    {
        _pid = pid;
        _loop = RunAsync();
    }

    public double CurrentRssMb { get; private set; }

    public double PeakRssMb { get; private set; }

    public double AverageRssMb
    {
        get
        {
            lock (_samples)
            {
                return _samples.Count == 0 ? 0 : _samples.Average(s => s.RssMb);
            }
        }
    }

    public double AverageCpuPercent =>
        double.IsNaN(_firstCpuSeconds) || _lastTimestamp == _firstTimestamp
            ? 0
            : 100.0 * (_lastCpuSeconds - _firstCpuSeconds) / TimeSpan.FromTicks(_lastTimestamp - _firstTimestamp).TotalSeconds;

    /// <summary>RSS samples (seconds since start, MB), for checking that memory is flat over time.</summary>
    public IReadOnlyList<(double Seconds, double RssMb)> Samples
    {
        get
        {
            lock (_samples)
            {
                long start = _samples.Count == 0 ? 0 : _samples[0].Timestamp;
                return [.. _samples.Select(s => (TimeSpan.FromTicks(s.Timestamp - start).TotalSeconds, s.RssMb))];
            }
        }
    }

    /// <summary>Forgets what was sampled so far (after ramp-up, so averages cover the measured phase).</summary>
    public void Reset()
    {
        lock (_samples)
        {
            _samples.Clear();
            PeakRssMb = 0;
            _firstCpuSeconds = double.NaN;
        }

        Sample(); // the measured phase starts here, however short it is
    }

    /// <summary>Takes a sample now (at the end of a phase shorter than the sampling interval, say).</summary>
    public void SampleNow() => Sample();

    private async Task RunAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(500));
        try
        {
            do
            {
                Sample();
            }
            while (await timer.WaitForNextTickAsync(_stop.Token));
        }
        catch (OperationCanceledException)
        {
            // Disposed: sampling is over.
        }
    }

    private void Sample()
    {
        try
        {
            long now = DateTime.UtcNow.Ticks;
            double rss = ReadRssMb();
            double cpu = ReadCpuSeconds();
            lock (_samples)
            {
                CurrentRssMb = rss;
                PeakRssMb = Math.Max(PeakRssMb, rss);
                _samples.Add((now, rss));
                if (double.IsNaN(_firstCpuSeconds))
                {
                    _firstCpuSeconds = cpu;
                    _firstTimestamp = now;
                }

                _lastCpuSeconds = cpu;
                _lastTimestamp = now;
            }
        }
        catch (IOException)
        {
            // The process exited; the samples so far stand.
        }
    }

    private double ReadRssMb()
    {
        foreach (string line in File.ReadLines($"/proc/{_pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return double.Parse(parts[1], CultureInfo.InvariantCulture) / 1024.0;
            }
        }

        return 0;
    }

    private double ReadCpuSeconds()
    {
        // /proc/PID/stat: fields after the parenthesised command; utime and stime are the 14th and 15th.
        string stat = File.ReadAllText($"/proc/{_pid}/stat");
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (double.Parse(fields[11], CultureInfo.InvariantCulture) + double.Parse(fields[12], CultureInfo.InvariantCulture)) / TicksPerSecond;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }
}
