using System.Buffers;

namespace Parley.Internal;

/// <summary>
/// Runs payloads through a <see cref="MessageMiddleware"/> list: first to last on the way out,
/// last to first on the way in. Steady state allocates nothing: encoding uses two buffers per
/// thread (the result is copied into a frame before the call returns), decoding two buffers
/// per connection (the result lives until the next message of that connection).
/// </summary>
internal static class MiddlewarePipeline
{
    // Buffers that grew past this for one large message are dropped afterwards, so a single
    // 1 MiB message does not pin 1 MiB per thread or connection for good.
    private const int KeepCapacity = 64 * 1024;

    [ThreadStatic]
    private static Buffers? t_encode;

    /// <summary>The encoded payload, valid until this thread encodes again.</summary>
    public static ReadOnlySpan<byte> Encode(IReadOnlyList<MessageMiddleware> middleware, ReadOnlySpan<byte> payload)
    {
        Buffers buffers = t_encode ??= new Buffers();
        return buffers.Encode(middleware, payload);
    }

    /// <summary>Two buffers used in turn by the stages of one pipeline run.</summary>
    internal sealed class Buffers
    {
        private ArrayBufferWriter<byte> _a = new(256);
        private ArrayBufferWriter<byte> _b = new(256);

        public ReadOnlySpan<byte> Encode(IReadOnlyList<MessageMiddleware> middleware, ReadOnlySpan<byte> payload)
        {
            Trim();
            ArrayBufferWriter<byte> current = _a, next = _b;
            current.ResetWrittenCount();
            middleware[0].Encode(payload, current);
            for (int i = 1; i < middleware.Count; i++)
            {
                next.ResetWrittenCount();
                middleware[i].Encode(current.WrittenSpan, next);
                (current, next) = (next, current);
            }

            return current.WrittenSpan;
        }

        /// <summary>The decoded payload, valid until the next call on these buffers.</summary>
        /// <exception cref="InvalidDataException">A middleware could not decode it.</exception>
        public ReadOnlySequence<byte> Decode(IReadOnlyList<MessageMiddleware> middleware, in ReadOnlySequence<byte> payload, int maxLength)
        {
            Trim();
            ArrayBufferWriter<byte> current = _a, next = _b;
            current.ResetWrittenCount();
            middleware[^1].Decode(payload, current, maxLength);
            for (int i = middleware.Count - 2; i >= 0; i--)
            {
                next.ResetWrittenCount();
                middleware[i].Decode(new ReadOnlySequence<byte>(current.WrittenMemory), next, maxLength);
                (current, next) = (next, current);
            }

            return new ReadOnlySequence<byte>(current.WrittenMemory);
        }

        private void Trim()
        {
            if (_a.Capacity > KeepCapacity)
            {
                _a = new ArrayBufferWriter<byte>(256);
            }

            if (_b.Capacity > KeepCapacity)
            {
                _b = new ArrayBufferWriter<byte>(256);
            }
        }
    }
}
