using System.Buffers;

namespace Parley;

/// <summary>
/// A transform of message payloads: applied to every outgoing message before it is framed and
/// reversed on every incoming one after it is parsed (compression, payload signing, …).
/// Configure an ordered list in <see cref="ConnectionOptions.Middleware"/>; outgoing messages
/// pass through it first to last, incoming ones last to first. Both ends must agree.
/// </summary>
/// <remarks>
/// <para>A middleware transforms the payload alone, the same way for every connection, so a
/// broadcast runs the pipeline once for all recipients (the encoded frame is shared, as
/// without middleware). Per-connection transforms such as encryption with per-peer keys
/// belong in the transport (TLS), not here.</para>
/// <para>Implementations must be thread-safe: one instance serves every connection. Writing
/// one: see <see cref="CompressionMiddleware"/> and docs/architecture.md.</para>
/// </remarks>
public abstract class MessageMiddleware
{
    /// <summary>Writes the transformed <paramref name="payload"/> to <paramref name="output"/>.</summary>
    public abstract void Encode(ReadOnlySpan<byte> payload, IBufferWriter<byte> output);

    /// <summary>
    /// Writes the original payload of <paramref name="payload"/> to <paramref name="output"/>, at
    /// most <paramref name="maxLength"/> bytes of it.
    /// </summary>
    /// <exception cref="InvalidDataException">The payload is not something <see cref="Encode"/>
    /// produced, or decodes to more than <paramref name="maxLength"/> bytes: the connection is
    /// closed with <see cref="CloseReason.ProtocolError"/>.</exception>
    public abstract void Decode(in ReadOnlySequence<byte> payload, IBufferWriter<byte> output, int maxLength);
}
