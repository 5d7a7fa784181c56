using System.Buffers.Text;

namespace Parley.Http;

/// <summary>
/// The <c>Date: …\r\n</c> line, formatted once a second by the server's heartbeat rather than
/// per response. Readers take the current array; the heartbeat swaps in a new one.
/// </summary>
internal sealed class DateHeader
{
    private const int Length = 6 + 29 + 2; // "Date: " + IMF-fixdate + CRLF
    private byte[] _line = new byte[Length];
    private long _second = long.MinValue;

    public DateHeader(TimeProvider time) => Refresh(time.GetUtcNow());

    public ReadOnlySpan<byte> Line => Volatile.Read(ref _line);

    public void Refresh(DateTimeOffset now)
    {
        long second = now.ToUnixTimeSeconds();
        if (second == Volatile.Read(ref _second))
        {
            return;
        }

        byte[] line = new byte[Length];
        "Date: "u8.CopyTo(line);
        Utf8Formatter.TryFormat(now.UtcDateTime, line.AsSpan(6), out _, 'R');
        "\r\n"u8.CopyTo(line.AsSpan(Length - 2));
        Volatile.Write(ref _line, line);
        Volatile.Write(ref _second, second);
    }
}
