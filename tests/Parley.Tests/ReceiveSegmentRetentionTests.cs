namespace Parley.Tests;

/// <summary>
/// Busy connections hold a receive segment between reads whenever a read ends inside a frame;
/// the pool must be able to keep that many, or every read allocates a segment and drops one
/// (issue 17: the garbage collector's pauses were the largest cost of a client receiving from
/// a broadcast). Each open connection reserves room for one segment; closing withdraws it.
/// </summary>
public class ReceiveSegmentRetentionTests
{
    [Fact]
    public async Task The_pool_keeps_one_receive_segment_per_open_connection_and_lets_them_go_when_the_connections_close()
    {
        var pool = new BufferPool();
        var options = new ConnectionOptions { BufferPool = pool };
        const int Pairs = 150; // 300 connections: over the 128 segments of 8 KiB a class keeps on its own
        var connections = new List<Connection>();
        for (int i = 0; i < Pairs; i++)
        {
            (Connection a, Connection b) = InMemoryConnection.CreatePair(options, options);
            connections.Add(a);
            connections.Add(b);
        }

        // Every connection holds a segment at the same moment (a read ended inside a frame), then all come back.
        byte[][] segments = [.. connections.Select(_ => pool.Rent(options.ReadBufferSize))];
        foreach (byte[] segment in segments)
        {
            pool.Return(segment);
        }

        Assert.Equal((long)connections.Count * options.ReadBufferSize, pool.RetainedBytes);

        foreach (Connection connection in connections)
        {
            connection.Abort();
        }

        await Task.WhenAll(connections.Select(c => c.CloseAsync())).Within();
        Assert.Equal(BufferPool.MaxRetainedBytesPerClass, pool.RetainedBytes);
        Assert.Equal(0, pool.Outstanding);
    }
}
