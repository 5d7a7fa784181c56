namespace Parley.Udp;

/// <summary>
/// Path-MTU probing for one session: a binary search between the confirmed packet size and the
/// ceiling (the smaller of this side's and the peer's maximum packet size). The ceiling is tried
/// first (often right on loopback and LANs), then the interval is halved; a size lost twice
/// becomes the new ceiling. One probe is in flight at a time; the search ends when the interval
/// is below 16 bytes. Not thread-safe (the host's lock).
/// </summary>
internal sealed class MtuProber
{
    private const int Attempts = 2;
    private const int Resolution = 16;

    private int _ceiling;
    private int _inFlight;          // the size of the probe in flight (0 when none)
    private int _failures;
    private bool _ceilingTried;

    /// <summary>When the next probe may go (<see cref="long.MaxValue"/>: none planned).</summary>
    public long NextAt { get; private set; } = long.MaxValue;

    /// <summary>The session came up: search up to <paramref name="ceiling"/> from <paramref name="packetSize"/>, starting now when enabled.</summary>
    public void Start(int ceiling, int packetSize, bool enabled, long now)
    {
        _ceiling = ceiling;
        if (enabled && ceiling > packetSize)
        {
            NextAt = now;
        }
    }

    /// <summary>The size of the probe to send now, if one is due (it is then in flight).</summary>
    public bool TryStart(long now, int packetSize, out int size)
    {
        size = 0;
        if (_inFlight != 0 || now < NextAt)
        {
            return false;
        }

        NextAt = long.MaxValue;
        if (_ceiling - packetSize < Resolution)
        {
            return false; // search finished
        }

        size = _inFlight = _ceilingTried ? (packetSize + _ceiling + 1) / 2 : _ceiling;
        return true;
    }

    /// <summary>The probe got through: the caller raises its packet size to it; the search goes on from <paramref name="now"/>.</summary>
    public void OnAcked(long now)
    {
        _inFlight = 0;
        _failures = 0;
        NextAt = now;
    }

    /// <summary>The probe of <paramref name="size"/> bytes was lost: after two losses that size is the new ceiling.</summary>
    public void OnLost(int size, long now)
    {
        _inFlight = 0;
        _ceilingTried |= _failures + 1 >= Attempts;
        if (++_failures >= Attempts)
        {
            _ceiling = size - 1; // that size does not get through: search below it
            _failures = 0;
        }

        NextAt = now;
    }
}
