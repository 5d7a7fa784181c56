using System.Buffers;

namespace Parley.Internal;

/// <summary>Runs payloads through a <see cref="MessageMiddleware"/> list: first to last on the way out, last to first on the way in.</summary>
internal static class MiddlewarePipeline
{
    public static PooledBufferWriter Encode(IReadOnlyList<MessageMiddleware> middleware, ReadOnlySpan<byte> payload, BufferPool pool)
    {
        var current = new PooledBufferWriter(pool, payload.Length + 64);
        try
        {
            middleware[0].Encode(payload, current);
            for (int i = 1; i < middleware.Count; i++)
            {
                var next = new PooledBufferWriter(pool, current.WrittenSpan.Length + 64);
                try
                {
                    middleware[i].Encode(current.WrittenSpan, next);
                }
                catch
                {
                    next.Dispose();
                    throw;
                }

                current.Dispose();
                current = next;
            }

            return current;
        }
        catch
        {
            current.Dispose();
            throw;
        }
    }

    /// <exception cref="InvalidDataException">A middleware could not decode the payload.</exception>
    public static PooledBufferWriter Decode(IReadOnlyList<MessageMiddleware> middleware, in ReadOnlySequence<byte> payload, BufferPool pool, int maxLength)
    {
        var current = new PooledBufferWriter(pool, (int)Math.Min(payload.Length * 2, maxLength) + 64);
        try
        {
            middleware[^1].Decode(payload, current, maxLength);
            for (int i = middleware.Count - 2; i >= 0; i--)
            {
                var next = new PooledBufferWriter(pool, current.WrittenSpan.Length + 64);
                try
                {
                    middleware[i].Decode(current.WrittenSequence, next, maxLength);
                }
                catch
                {
                    next.Dispose();
                    throw;
                }

                current.Dispose();
                current = next;
            }

            return current;
        }
        catch
        {
            current.Dispose();
            throw;
        }
    }
}
