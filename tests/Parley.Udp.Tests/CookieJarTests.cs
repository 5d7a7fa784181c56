using System.Net;

namespace Parley.Udp.Tests;

public class CookieJarTests
{
    private static readonly IPEndPoint Alice = new(IPAddress.Parse("127.0.0.2"), 40000);
    private static readonly byte[] AliceKey = [0x04, .. Enumerable.Range(1, 64).Select(i => (byte)i)];
    private const uint AliceSession = 0x1234_5678;

    [Fact]
    public void A_cookie_verifies_for_its_address_within_its_lifetime_only()
    {
        var clock = new ManualClock(DateTimeOffset.Parse("2026-11-22T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var jar = new CookieJar(clock, TimeSpan.FromSeconds(10));
        byte[] cookie = new byte[CookieJar.Size];
        jar.Create(Alice, AliceSession, AliceKey, cookie);

        Assert.True(jar.IsValid(Alice, AliceSession, AliceKey, cookie));
        Assert.False(jar.IsValid(new IPEndPoint(Alice.Address, 40001), AliceSession, AliceKey, cookie));                 // another port
        Assert.False(jar.IsValid(new IPEndPoint(IPAddress.Parse("127.0.0.3"), 40000), AliceSession, AliceKey, cookie));  // another address
        Assert.False(jar.IsValid(new IPEndPoint(IPAddress.IPv6Loopback, 40000), AliceSession, AliceKey, cookie));

        Assert.False(jar.IsValid(Alice, AliceSession + 1, AliceKey, cookie));                   // another session (issue 16 review R7)
        byte[] otherKey = (byte[])AliceKey.Clone();
        otherKey[^1] ^= 1;
        Assert.False(jar.IsValid(Alice, AliceSession, otherKey, cookie));                        // another public key

        clock.Advance(TimeSpan.FromSeconds(5));
        Assert.True(jar.IsValid(Alice, AliceSession, AliceKey, cookie));
        clock.Advance(TimeSpan.FromSeconds(11));
        Assert.False(jar.IsValid(Alice, AliceSession, AliceKey, cookie)); // expired
    }

    [Fact]
    public void A_tampered_truncated_or_foreign_cookie_is_refused()
    {
        var jar = new CookieJar(TimeProvider.System, TimeSpan.FromSeconds(10));
        byte[] cookie = new byte[CookieJar.Size];
        jar.Create(Alice, AliceSession, AliceKey, cookie);
        for (int i = 0; i < cookie.Length; i++)
        {
            byte[] copy = (byte[])cookie.Clone();
            copy[i] ^= 1;
            Assert.False(jar.IsValid(Alice, AliceSession, AliceKey, copy), $"byte {i}");
        }

        Assert.False(jar.IsValid(Alice, AliceSession, AliceKey, cookie.AsSpan(0, CookieJar.Size - 1)));
        var other = new CookieJar(TimeProvider.System, TimeSpan.FromSeconds(10)); // another server's secret
        Assert.False(other.IsValid(Alice, AliceSession, AliceKey, cookie));
    }
}

/// <summary>A clock the test moves by hand (Microsoft.Extensions.TimeProvider.Testing is not in the reachable NuGet copy).</summary>
internal sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public override long GetTimestamp() => _now.UtcTicks;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public void Advance(TimeSpan by) => _now += by;
}
