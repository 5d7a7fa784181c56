using System.Buffers;
using System.Text;

namespace Parley.WebSockets.Internal;

/// <summary>
/// Checks a text message that arrives in pieces is UTF-8, piece by piece: a code point split
/// between two pieces is carried over (at most 3 bytes), so a message is refused in the piece
/// where it goes wrong (RFC 6455 8.1), not only at its end.
/// </summary>
internal struct Utf8Checker
{
    private uint _pending; // up to 3 bytes of an unfinished code point, the first in the low byte
    private int _pendingCount;

    /// <summary>No code point is left unfinished.</summary>
    public readonly bool IsComplete => _pendingCount == 0;

    /// <summary>Checks the next piece; false when the text so far cannot be UTF-8.</summary>
    public bool Append(ReadOnlySpan<byte> piece)
    {
        if (_pendingCount > 0)
        {
            Span<byte> joined = stackalloc byte[4];
            for (int i = 0; i < _pendingCount; i++)
            {
                joined[i] = (byte)(_pending >> (8 * i));
            }

            int take = Math.Min(4 - _pendingCount, piece.Length);
            piece[..take].CopyTo(joined[_pendingCount..]);
            OperationStatus status = Rune.DecodeFromUtf8(joined[..(_pendingCount + take)], out _, out int consumed);
            if (status == OperationStatus.NeedMoreData)
            {
                Keep(joined[..(_pendingCount + take)]);
                return true;
            }

            if (status != OperationStatus.Done || consumed <= _pendingCount)
            {
                return false;
            }

            piece = piece[(consumed - _pendingCount)..];
            _pendingCount = 0;
        }

        int tail = IncompleteTail(piece);
        if (!System.Text.Unicode.Utf8.IsValid(piece[..^tail]))
        {
            return false;
        }

        if (tail > 0)
        {
            if (Rune.DecodeFromUtf8(piece[^tail..], out _, out _) != OperationStatus.NeedMoreData)
            {
                return false;
            }

            Keep(piece[^tail..]);
        }

        return true;
    }

    private void Keep(ReadOnlySpan<byte> bytes)
    {
        _pending = 0;
        for (int i = 0; i < bytes.Length; i++)
        {
            _pending |= (uint)bytes[i] << (8 * i);
        }

        _pendingCount = bytes.Length;
    }

    /// <summary>How many bytes at the end begin a code point that needs more than are there (0–3).</summary>
    private static int IncompleteTail(ReadOnlySpan<byte> piece)
    {
        for (int back = 1; back <= Math.Min(3, piece.Length); back++)
        {
            byte b = piece[^back];
            if ((b & 0xC0) == 0x80)
            {
                continue; // a continuation byte: the lead is further back
            }

            int needed = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 1;
            return needed > back ? back : 0;
        }

        return 0;
    }
}
