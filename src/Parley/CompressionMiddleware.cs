using System.Buffers;
using System.IO.Compression;

namespace Parley;

/// <summary>
/// Per-message compression: each payload gets a one-byte header saying how the rest is stored
/// (<see cref="CompressionCodec"/>), then the bytes. Payloads below
/// <see cref="Threshold"/>, and those compression would not shrink, are stored as they are.
/// </summary>
/// <remarks>
/// Enabling it changes the payload format: both ends need it, and a Miku client without it
/// cannot read the messages. On receive every codec is accepted, whatever this side sends
/// with; a payload that would decompress past the framer's maximum message size (a
/// decompression bomb) or is corrupt closes that connection with
/// <see cref="CloseReason.ProtocolError"/>. Thread-safe.
/// </remarks>
public sealed class CompressionMiddleware : MessageMiddleware
{
    private const int BrotliQuality = 4;  // the usual speed/ratio balance for live traffic (11 is for files)
    private const int BrotliWindow = 22;

    /// <summary>Compresses outgoing payloads of at least <paramref name="threshold"/> bytes with <paramref name="codec"/>.</summary>
    /// <param name="codec">The codec for outgoing messages.</param>
    /// <param name="threshold">Smaller payloads are stored as they are. Default 256 bytes: below that, headers and
    /// dictionaries cost more than they save.</param>
    public CompressionMiddleware(CompressionCodec codec, int threshold = 256)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(threshold);
        if (!Enum.IsDefined(codec))
        {
            throw new ArgumentOutOfRangeException(nameof(codec), codec, "Unknown compression codec.");
        }

        Codec = codec;
        Threshold = threshold;
    }

    /// <summary>The codec for outgoing messages.</summary>
    public CompressionCodec Codec { get; }

    /// <summary>Payloads shorter than this are sent uncompressed.</summary>
    public int Threshold { get; }

    /// <inheritdoc />
    public override void Encode(ReadOnlySpan<byte> payload, IBufferWriter<byte> output)
    {
        if (Codec != CompressionCodec.None && payload.Length >= Threshold)
        {
            // Compress into room for the payload itself: when the result would not be smaller, store instead.
            Span<byte> destination = output.GetSpan(payload.Length + 1);
            int written = Codec == CompressionCodec.Brotli ? TryBrotli(payload, destination[1..payload.Length]) : TryZlib(payload, destination[1..payload.Length]);
            if (written > 0)
            {
                destination[0] = (byte)Codec;
                output.Advance(1 + written);
                return;
            }
        }

        Span<byte> stored = output.GetSpan(payload.Length + 1);
        stored[0] = (byte)CompressionCodec.None;
        payload.CopyTo(stored[1..]);
        output.Advance(payload.Length + 1);
    }

    /// <inheritdoc />
    public override void Decode(in ReadOnlySequence<byte> payload, IBufferWriter<byte> output, int maxLength)
    {
        if (payload.IsEmpty)
        {
            throw new InvalidDataException("A compressed message has no header byte.");
        }

        var codec = (CompressionCodec)payload.FirstSpan[0];
        ReadOnlySequence<byte> body = payload.Slice(1);
        switch (codec)
        {
            case CompressionCodec.None:
                if (body.Length > maxLength)
                {
                    throw new InvalidDataException($"A message of {body.Length} bytes is over the limit of {maxLength}.");
                }

                foreach (ReadOnlyMemory<byte> segment in body)
                {
                    output.Write(segment.Span);
                }

                break;
            case CompressionCodec.Brotli:
                DecodeBrotli(body, output, maxLength);
                break;
            case CompressionCodec.Zlib:
                DecodeZlib(body, output, maxLength);
                break;
            default:
                throw new InvalidDataException($"Unknown compression header {(byte)codec}.");
        }
    }

    private static int TryBrotli(ReadOnlySpan<byte> source, Span<byte> destination) =>
        BrotliEncoder.TryCompress(source, destination, out int written, BrotliQuality, BrotliWindow) ? written : 0;

    private static int TryZlib(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        // ZLibStream has no span API: compress through a stream into a pooled array.
        byte[] buffer = ArrayPool<byte>.Shared.Rent(destination.Length);
        try
        {
            using var target = new MemoryStream(buffer, 0, destination.Length, writable: true);
            try
            {
                using (var zlib = new ZLibStream(target, CompressionLevel.Fastest, leaveOpen: true))
                {
                    zlib.Write(source);
                }
            }
            catch (NotSupportedException)
            {
                return 0; // It did not fit: larger than the original, so store instead.
            }

            int written = (int)target.Position;
            buffer.AsSpan(0, written).CopyTo(destination);
            return written;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static void DecodeBrotli(in ReadOnlySequence<byte> body, IBufferWriter<byte> output, int maxLength)
    {
        using var decoder = new BrotliDecoder();
        int total = 0;
        OperationStatus status = OperationStatus.NeedMoreData;
        foreach (ReadOnlyMemory<byte> segment in body)
        {
            ReadOnlySpan<byte> source = segment.Span;
            do
            {
                Span<byte> destination = output.GetSpan(4096);
                status = decoder.Decompress(source, destination, out int consumed, out int written);
                if (status == OperationStatus.InvalidData)
                {
                    throw new InvalidDataException("Corrupt Brotli data.");
                }

                total += written;
                if (total > maxLength)
                {
                    throw new InvalidDataException($"A compressed message expands past the limit of {maxLength} bytes.");
                }

                output.Advance(written);
                source = source[consumed..];
            }
            while (status == OperationStatus.DestinationTooSmall || (!source.IsEmpty && status != OperationStatus.Done));
        }

        if (status != OperationStatus.Done)
        {
            throw new InvalidDataException("Truncated Brotli data.");
        }
    }

    private static void DecodeZlib(in ReadOnlySequence<byte> body, IBufferWriter<byte> output, int maxLength)
    {
        byte[] compressed = body.ToArray();
        using var zlib = new ZLibStream(new MemoryStream(compressed), CompressionMode.Decompress);
        int total = 0;
        try
        {
            while (true)
            {
                Span<byte> destination = output.GetSpan(4096);
                int read = zlib.Read(destination);
                if (read == 0)
                {
                    return;
                }

                total += read;
                if (total > maxLength)
                {
                    throw new InvalidDataException($"A compressed message expands past the limit of {maxLength} bytes.");
                }

                output.Advance(read);
            }
        }
        catch (InvalidDataException)
        {
            throw;
        }
        catch (IOException ex)
        {
            throw new InvalidDataException("Corrupt zlib data.", ex);
        }
    }
}
