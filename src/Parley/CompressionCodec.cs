namespace Parley;

/// <summary>How <see cref="CompressionMiddleware"/> compresses; the value is the payload's header byte.</summary>
public enum CompressionCodec : byte
{
    /// <summary>Stored as is (below the threshold, or when compression would not make it smaller).</summary>
    None = 0,

    /// <summary>zlib (RFC 1950: Deflate with a header and checksum), <see cref="System.IO.Compression.ZLibStream"/>.</summary>
    Zlib = 1,

    /// <summary>Brotli (RFC 7932), <see cref="System.IO.Compression.BrotliEncoder"/>: better ratios, no allocation per message.</summary>
    Brotli = 2,
}
