namespace Parley.Udp;

/// <summary>
/// The bytes a host's reassemblies (every peer's, reliable and unreliable) may hold at once, and
/// the share of them one source address may hold: a reassembly charges the buffer bytes it has
/// actually rented (chunks, as fragments arrive) and gives them back when it completes, expires
/// or its session ends. Every session joins the <see cref="Share"/> of its source address (an
/// IPv4 address or an IPv6 /64), so the sessions of one address together cannot take more than
/// <c>maxBytesPerAddress</c>, and the other addresses keep room. Not thread-safe (the host's lock).
/// </summary>
internal sealed class ReassemblyBudget(long maxBytes, long maxBytesPerAddress = long.MaxValue)
{
    private readonly Dictionary<UInt128, Share> _shares = [];

    public long MaxBytes { get; } = maxBytes;

    /// <summary>What one address's sessions may hold together (at most <see cref="MaxBytes"/>).</summary>
    public long MaxBytesPerAddress { get; } = Math.Min(maxBytes, maxBytesPerAddress);

    public long UsedBytes { get; private set; }

    /// <summary>Messages refused because the budget (the host's or an address's share) was spent.</summary>
    public long Refusals { get; private set; }

    /// <summary>Addresses with a share now (tests).</summary>
    internal int ShareCount => _shares.Count;

    /// <summary>The share of <paramref name="addressKey"/> (a new one when null: an address-less session counts alone).</summary>
    public Share Join(UInt128? addressKey)
    {
        if (addressKey is not { } key)
        {
            return new Share(this, null) { Members = 1 };
        }

        if (!_shares.TryGetValue(key, out Share? share))
        {
            share = new Share(this, key);
            _shares[key] = share;
        }

        share.Members++;
        return share;
    }

    /// <summary>A session that joined <paramref name="share"/> ended (after giving back what it held).</summary>
    public void Leave(Share share)
    {
        if (--share.Members == 0 && share.Key is { } key)
        {
            _shares.Remove(key);
        }
    }

    /// <summary>A budget with no address accounting (tests of one reassembler).</summary>
    public Share Unshared() => Join(null);

    private bool TryTake(Share share, long bytes)
    {
        if (UsedBytes + bytes > MaxBytes || share.UsedBytes + bytes > MaxBytesPerAddress)
        {
            Refusals++;
            return false;
        }

        UsedBytes += bytes;
        share.UsedBytes += bytes;
        return true;
    }

    private void Give(Share share, long bytes)
    {
        UsedBytes -= bytes;
        share.UsedBytes -= bytes;
    }

    /// <summary>What the sessions of one source address hold of the budget.</summary>
    internal sealed class Share(ReassemblyBudget budget, UInt128? key)
    {
        public UInt128? Key { get; } = key;

        public int Members { get; set; }

        public long UsedBytes { get; set; }

        public bool TryTake(long bytes) => budget.TryTake(this, bytes);

        public void Give(long bytes) => budget.Give(this, bytes);
    }
}
