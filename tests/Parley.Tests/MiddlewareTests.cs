using System.Buffers;
using System.Text;

namespace Parley.Tests;

public class MiddlewareTests
{
    private static byte[] Compressible(int length) => Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("the quick brown fox jumps over the lazy dog. ", (length / 45) + 1)))[..length];

    private static byte[] RoundTrip(MessageMiddleware middleware, byte[] payload, int maxLength = 1 << 20)
    {
        var encoded = new ArrayBufferWriter<byte>();
        middleware.Encode(payload, encoded);
        var decoded = new ArrayBufferWriter<byte>();
        middleware.Decode(new ReadOnlySequence<byte>(encoded.WrittenMemory), decoded, maxLength);
        return decoded.WrittenSpan.ToArray();
    }

    [Theory]
    [InlineData(CompressionCodec.Brotli)]
    [InlineData(CompressionCodec.Zlib)]
    public void Each_codec_round_trips_and_shrinks_compressible_payloads(CompressionCodec codec)
    {
        var middleware = new CompressionMiddleware(codec, threshold: 100);
        byte[] payload = Compressible(10_000);
        var encoded = new ArrayBufferWriter<byte>();
        middleware.Encode(payload, encoded);
        Assert.Equal((byte)codec, encoded.WrittenSpan[0]);
        Assert.True(encoded.WrittenCount < payload.Length / 4);
        Assert.Equal(payload, RoundTrip(middleware, payload));
    }

    [Theory]
    [InlineData(CompressionCodec.Brotli)]
    [InlineData(CompressionCodec.Zlib)]
    public void Payloads_below_the_threshold_or_that_do_not_shrink_are_stored_with_a_zero_header(CompressionCodec codec)
    {
        var middleware = new CompressionMiddleware(codec, threshold: 100);
        foreach (byte[] payload in new[] { Compressible(99), System.Security.Cryptography.RandomNumberGenerator.GetBytes(5000), Array.Empty<byte>() })
        {
            var encoded = new ArrayBufferWriter<byte>();
            middleware.Encode(payload, encoded);
            Assert.Equal(0, encoded.WrittenSpan[0]);
            Assert.Equal(payload.Length + 1, encoded.WrittenCount);
            Assert.Equal(payload, RoundTrip(middleware, payload));
        }
    }

    [Theory]
    [InlineData(CompressionCodec.Brotli)]
    [InlineData(CompressionCodec.Zlib)]
    public void A_payload_that_would_expand_past_the_limit_is_refused_as_a_bomb(CompressionCodec codec)
    {
        var middleware = new CompressionMiddleware(codec, threshold: 0);
        byte[] zeros = new byte[4 * 1024 * 1024];
        var encoded = new ArrayBufferWriter<byte>();
        middleware.Encode(zeros, encoded);
        Assert.Equal((byte)codec, encoded.WrittenSpan[0]);
        Assert.True(encoded.WrittenCount < 64 * 1024, $"{encoded.WrittenCount} bytes"); // 4 MiB of zeros compress to a few KiB: a bomb
        var error = Assert.Throws<InvalidDataException>(() => middleware.Decode(new ReadOnlySequence<byte>(encoded.WrittenMemory), new ArrayBufferWriter<byte>(), maxLength: 1 << 20));
        Assert.Contains("limit", error.Message);
    }

    [Theory]
    [InlineData(new byte[] { 2, 1, 2, 3, 4, 5 })]   // Brotli header, garbage body
    [InlineData(new byte[] { 1, 0xFF, 0xFF, 0xFF })]  // zlib header, garbage body
    [InlineData(new byte[] { 9, 1, 2 })]              // unknown codec
    [InlineData(new byte[0])]                         // no header at all
    public void Corrupt_compressed_data_is_an_invalid_data_error(byte[] payload)
    {
        var middleware = new CompressionMiddleware(CompressionCodec.Brotli);
        Assert.Throws<InvalidDataException>(() => middleware.Decode(new ReadOnlySequence<byte>(payload), new ArrayBufferWriter<byte>(), 1 << 20));
    }

    /// <summary>Appends its mark on the way out and checks and strips it on the way in: shows the order.</summary>
    private sealed class Mark(byte mark, List<string> trace) : MessageMiddleware
    {
        public override void Encode(ReadOnlySpan<byte> payload, IBufferWriter<byte> output)
        {
            lock (trace)
            {
                trace.Add($"encode {(char)mark}");
            }

            output.Write(payload);
            output.Write([mark]);
        }

        public override void Decode(in ReadOnlySequence<byte> payload, IBufferWriter<byte> output, int maxLength)
        {
            byte[] bytes = payload.ToArray();
            if (bytes.Length == 0 || bytes[^1] != mark)
            {
                throw new InvalidDataException($"expected mark {(char)mark}");
            }

            lock (trace)
            {
                trace.Add($"decode {(char)mark}");
            }

            output.Write(bytes.AsSpan(0, bytes.Length - 1));
        }
    }

    [Fact]
    public async Task Middleware_runs_in_order_on_send_in_reverse_on_receive_and_once_per_broadcast()
    {
        var pool = new BufferPool();
        var trace = new List<string>();
        MessageMiddleware[] pipeline = [new Mark((byte)'A', trace), new CompressionMiddleware(CompressionCodec.Brotli, threshold: 0), new Mark((byte)'B', trace)];
        ParleyServerOptions options = TestSupport.ServerOptions(pool);
        options.Middleware = pipeline;
        await using var server = new ParleyServer(options);
        server.MessageReceived += (_, message) => server.Broadcast(message);
        server.Start();

        var clients = new List<Connection>();
        for (int i = 0; i < 3; i++)
        {
            ParleyClientOptions clientOptions = TestSupport.ClientOptions(server, pool);
            clientOptions.Middleware = pipeline;
            clients.Add(await ParleyClient.OpenConnectionAsync(clientOptions).Within());
        }

        await TestSupport.Until(() => server.Everyone.Count == 3, "three connected and in the broadcast group");
        lock (trace)
        {
            trace.Clear();
        }

        byte[] payload = Compressible(5000);
        clients[0].Send(payload);
        foreach (Connection client in clients)
        {
            await using IAsyncEnumerator<ReadOnlySequence<byte>> messages = client.ReadMessagesAsync().GetAsyncEnumerator();
            Assert.True(await messages.MoveNextAsync().AsTask().Within());
            Assert.Equal(payload, messages.Current.ToArray());
        }

        await TestSupport.Until(() => { lock (trace) { return trace.Count == 2 + 2 + 2 + (3 * 2); } }, "every step ran");
        lock (trace)
        {
            // Client: A then B out. Server: B then A in, then A then B out ONCE for three recipients. Clients: B then A in, each.
            Assert.Equal(["encode A", "encode B", "decode B", "decode A", "encode A", "encode B"], trace.Take(6));
            Assert.Equal(2, trace.Count(t => t == "encode A"));
        }

        foreach (Connection client in clients)
        {
            await client.CloseAsync().Within();
        }
    }

    [Fact]
    public async Task A_message_the_middleware_cannot_decode_closes_only_that_connection_as_a_protocol_error()
    {
        var pool = new BufferPool();
        ParleyServerOptions options = TestSupport.ServerOptions(pool);
        options.Middleware = [new CompressionMiddleware(CompressionCodec.Zlib)];
        await using var server = new ParleyServer(options);
        server.MessageReceived += (connection, message) => connection.Send(message);
        server.Start();

        ParleyClientOptions goodOptions = TestSupport.ClientOptions(server, pool);
        goodOptions.Middleware = options.Middleware;
        await using Connection good = await ParleyClient.OpenConnectionAsync(goodOptions).Within();
        await using Connection bad = await ParleyClient.OpenConnectionAsync(TestSupport.ClientOptions(server, pool)).Within(); // no middleware: sends raw bytes
        bad.Send([1, 0xFF, 0xFF, 0xFF, 0xFF]); // claims zlib, is not
        await TestSupport.Until(() => server.Connections.All(c => c.RemoteEndPoint?.ToString() != bad.LocalEndPoint?.ToString()), "the bad connection is gone");

        good.Send(Compressible(1000));
        await using IAsyncEnumerator<ReadOnlySequence<byte>> messages = good.ReadMessagesAsync().GetAsyncEnumerator();
        Assert.True(await messages.MoveNextAsync().AsTask().Within());
        Assert.Equal(Compressible(1000), messages.Current.ToArray());
    }

    /// <summary>The example from docs/architecture.md, compiled and exercised here.</summary>
    private sealed class VersionTag(byte version) : MessageMiddleware
    {
        public override void Encode(ReadOnlySpan<byte> payload, IBufferWriter<byte> output)
        {
            Span<byte> span = output.GetSpan(payload.Length + 1);
            span[0] = version;
            payload.CopyTo(span[1..]);
            output.Advance(payload.Length + 1);
        }

        public override void Decode(in ReadOnlySequence<byte> payload, IBufferWriter<byte> output, int maxLength)
        {
            if (payload.IsEmpty || payload.FirstSpan[0] != version)
            {
                throw new InvalidDataException($"expected protocol version {version}");
            }

            ReadOnlySequence<byte> body = payload.Slice(1);
            if (body.Length > maxLength)
            {
                throw new InvalidDataException("message too large");
            }

            foreach (ReadOnlyMemory<byte> segment in body)
            {
                output.Write(segment.Span);
            }
        }
    }

    [Fact]
    public async Task The_documented_example_middleware_admits_its_version_and_closes_a_peer_on_another()
    {
        var pool = new BufferPool();
        ParleyServerOptions options = TestSupport.ServerOptions(pool);
        options.Middleware = [new VersionTag(2), new CompressionMiddleware(CompressionCodec.Brotli)];
        await using var server = new ParleyServer(options);
        server.MessageReceived += (connection, message) => connection.Send(message);
        server.Start();

        ParleyClientOptions same = TestSupport.ClientOptions(server, pool);
        same.Middleware = options.Middleware;
        await using Connection good = await ParleyClient.OpenConnectionAsync(same).Within();
        good.Send(Compressible(3000));
        await using (IAsyncEnumerator<ReadOnlySequence<byte>> messages = good.ReadMessagesAsync().GetAsyncEnumerator())
        {
            Assert.True(await messages.MoveNextAsync().AsTask().Within());
            Assert.Equal(Compressible(3000), messages.Current.ToArray());
        }

        ParleyClientOptions other = TestSupport.ClientOptions(server, pool);
        other.Middleware = [new VersionTag(1), new CompressionMiddleware(CompressionCodec.Brotli)];
        await using Connection old = await ParleyClient.OpenConnectionAsync(other).Within();
        old.Send(Compressible(3000));
        int received = 0;
        await foreach (ReadOnlySequence<byte> _ in old.ReadMessagesAsync().WithCancellation(default))
        {
            received++;
        }

        Assert.Equal(0, received); // the server closed it instead of answering
    }
}
