using System.Buffers;
using BenchmarkDotNet.Attributes;

namespace Parley.Benchmarks;

/// <summary>Parsing and writing length-prefixed frames: 100 messages of 100 bytes per operation.</summary>
[MemoryDiagnoser]
public class FramingBenchmarks
{
    private const int Messages = 100;
    private readonly LengthPrefixedFramer _framer = LengthPrefixedFramer.Default;
    private readonly BufferPool _pool = new();
    private readonly byte[] _payload = new byte[100];
    private ReadOnlySequence<byte> _single;
    private ReadOnlySequence<byte> _segmented;

    [GlobalSetup]
    public void Setup()
    {
        byte[] stream = new byte[Messages * 104];
        for (int i = 0; i < Messages; i++)
        {
            _framer.WriteFrame(_payload, stream.AsSpan(i * 104, 104));
        }

        _single = new ReadOnlySequence<byte>(stream);

        // The same bytes in 4 KiB segments, as a pipe delivers them: some frames straddle two.
        _segmented = Segments.Split(stream, 4096);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Messages)]
    public int ParseSingleSegment() => ParseAll(_single);

    [Benchmark(OperationsPerInvoke = Messages)]
    public int ParseMultiSegment() => ParseAll(_segmented);

    [Benchmark(OperationsPerInvoke = Messages)]
    public int WriteFrame()
    {
        int total = 0;
        for (int i = 0; i < Messages; i++)
        {
            Frame frame = _framer.CreateFrame(_payload, _pool);
            total += frame.Length;
            frame.Release();
        }

        return total;
    }

    private int ParseAll(ReadOnlySequence<byte> buffer)
    {
        int count = 0;
        while (_framer.TryParse(buffer, out ReadOnlySequence<byte> payload, out SequencePosition consumed) == FrameParseStatus.Message)
        {
            count += (int)payload.Length;
            buffer = buffer.Slice(consumed);
        }

        return count;
    }
}
