using System.Buffers;
using System.Text.Json;

namespace Parley.Chat;

/// <summary>
/// One <see cref="Utf8JsonWriter"/> per thread, pointed at the caller's buffer for one object
/// and let go of it after: the codec writes without allocating a writer per line.
/// </summary>
internal static class JsonWriterCache
{
    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    /// <summary>The thread's writer, reset onto <paramref name="output"/>. Pair with <see cref="Release"/>.</summary>
    public static Utf8JsonWriter Rent(IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        Utf8JsonWriter writer = t_writer ??= new Utf8JsonWriter(NullBufferWriter.Instance, ChatProtocol.WriterOptions);
        writer.Reset(output);
        return writer;
    }

    /// <summary>Flushes what was written into the caller's buffer (unless the write failed: then
    /// what is still pending is dropped) and lets go of it (the thread must not keep it alive).</summary>
    public static void Release(Utf8JsonWriter writer, bool flush = true)
    {
        if (flush)
        {
            writer.Flush();
        }

        writer.Reset(NullBufferWriter.Instance);
    }

    /// <summary>Where an idle writer points: it is never written to.</summary>
    private sealed class NullBufferWriter : IBufferWriter<byte>
    {
        public static readonly NullBufferWriter Instance = new();

        public void Advance(int count) => throw new InvalidOperationException("an idle JSON writer was written to");

        public Memory<byte> GetMemory(int sizeHint = 0) => throw new InvalidOperationException("an idle JSON writer was written to");

        public Span<byte> GetSpan(int sizeHint = 0) => throw new InvalidOperationException("an idle JSON writer was written to");
    }
}
