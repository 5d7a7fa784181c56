namespace Parley.Udp;

/// <summary>
/// Round-trip time and retransmission timeout as in RFC 6298: SRTT and RTTVAR from samples
/// (α = 1/8, β = 1/4), RTO = SRTT + max(granularity, 4·RTTVAR), clamped to [min, max], doubled
/// on each timeout (backoff) until a new sample arrives. Not thread-safe (one per peer, driven
/// by the peer's loop).
/// </summary>
internal sealed class RttEstimator(TimeSpan initialRto, TimeSpan minRto, TimeSpan maxRto)
{
    private static readonly TimeSpan Granularity = TimeSpan.FromMilliseconds(1);
    private TimeSpan _baseRto = initialRto;
    private int _backoff;

    public TimeSpan SmoothedRtt { get; private set; }

    public TimeSpan RttVariation { get; private set; }

    public TimeSpan LatestRtt { get; private set; }

    public bool HasSample { get; private set; }

    /// <summary>The smallest sample seen: the path's round trip without queueing.</summary>
    public TimeSpan MinRtt { get; private set; } = TimeSpan.MaxValue;

    /// <summary>The timeout to use now, including backoff.</summary>
    public TimeSpan Rto => Clamp(TimeSpan.FromTicks(_baseRto.Ticks << Math.Min(_backoff, 16)));

    public void AddSample(TimeSpan rtt)
    {
        if (rtt < TimeSpan.Zero)
        {
            return;
        }

        LatestRtt = rtt;
        MinRtt = rtt < MinRtt ? rtt : MinRtt;
        if (!HasSample)
        {
            SmoothedRtt = rtt;
            RttVariation = rtt / 2;
            HasSample = true;
        }
        else
        {
            TimeSpan deviation = (SmoothedRtt - rtt).Duration();
            RttVariation = ((RttVariation * 3) + deviation) / 4;
            SmoothedRtt = ((SmoothedRtt * 7) + rtt) / 8;
        }

        TimeSpan variance = RttVariation * 4;
        _baseRto = SmoothedRtt + (variance > Granularity ? variance : Granularity);
        _backoff = 0; // a fresh measurement ends the backoff (RFC 6298, 5.7 and Karn's algorithm upstream)
    }

    /// <summary>A retransmission timer fired: double the timeout.</summary>
    public void Backoff() => _backoff++;

    private TimeSpan Clamp(TimeSpan value) => value < minRto ? minRto : value > maxRto ? maxRto : value;
}
