namespace Parley.Udp;

/// <summary>
/// Flow control, sending side: the peer lets this side send reliable data bytes up to a limit it
/// raises with Window frames (counted mod 2^32, so the window must stay below 2 GiB). A message
/// takes its whole size of credit with its first fragment (the receiver charges a reassembly its
/// declared size when it starts). When the credit runs out the session is blocked until a higher
/// limit comes; if nothing is in flight to bring one, the session asks with an eliciting packet
/// after a timeout (the update may have been lost). Not thread-safe (the host's lock).
/// </summary>
internal sealed class SendCredit
{
    private uint _sent;
    private uint _limit;
    private long _blockedSince;

    /// <summary>Bytes that may still be sent (wraps correctly while the window is below 2 GiB).</summary>
    public uint Left => _limit - _sent;

    /// <summary>True since a message did not fit, until the peer raises the limit.</summary>
    public bool Blocked { get; private set; }

    /// <summary>The session came up: the peer's initial window from the handshake.</summary>
    public void Start(uint peerWindow) => _limit = peerWindow;

    /// <summary>A Window frame: a higher limit unblocks (an older, lower one is ignored).</summary>
    public void OnWindow(uint limit)
    {
        if ((int)(limit - _limit) > 0)
        {
            _limit = limit;
            Blocked = false;
        }
    }

    /// <summary>True when <paramref name="bytes"/> of credit are left; otherwise the session is blocked from <paramref name="now"/>.</summary>
    public bool Allows(uint bytes, long now)
    {
        if (bytes > Left)
        {
            Blocked = true;
            _blockedSince = now;
            return false;
        }

        return true;
    }

    /// <summary>A message's first fragment went out: its credit is spent.</summary>
    public void Take(uint bytes) => _sent += bytes;

    /// <summary>
    /// True when the session has been blocked with nothing in flight for a timeout: an eliciting
    /// packet should bring a fresh window update (the timer restarts).
    /// </summary>
    public bool OnTimer(long now, bool nothingInFlight, long timeoutMicros)
    {
        if (Blocked && nothingInFlight && now - _blockedSince >= timeoutMicros)
        {
            _blockedSince = now;
            return true;
        }

        return false;
    }

    /// <summary>When <see cref="OnTimer"/> next has something to do.</summary>
    public long NextDeadline(bool nothingInFlight, long timeoutMicros) => Blocked && nothingInFlight ? _blockedSince + timeoutMicros : long.MaxValue;

    public string Describe() => $"credit {Blocked}/{_blockedSince}";
}
