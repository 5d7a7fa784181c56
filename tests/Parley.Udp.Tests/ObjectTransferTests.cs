using System.Collections.Concurrent;
using System.Net;
using Parley.Udp.Objects;

namespace Parley.Udp.Tests;

/// <summary>Large objects over loopback: blocks at offsets, progress, resume of missing blocks, refusal.</summary>
public sealed class ObjectTransferTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "parley-objects-" + Guid.NewGuid().ToString("N"));

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static byte[] RandomBytes(int length, int seed)
    {
        byte[] data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    [Fact]
    public async Task An_object_arrives_whole_under_loss_with_progress_to_the_end()
    {
        var lossy = new UdpHostOptions { SimulatedConditions = new NetworkConditions { Loss = 0.02 } };
        await using UdpHost server = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0), lossy);
        await using var receiver = new ObjectReceiver(server, _folder);
        var completed = new TaskCompletionSource<(string Path, long Length)>(TaskCreationOptions.RunContinuationsAsynchronously);
        receiver.Completed += (peer, path, length) => completed.TrySetResult((path, length));
        await using UdpHost client = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0), lossy);
        UdpPeer peer = await client.ConnectAsync(server.LocalEndPoint).WaitAsync(Limit);

        byte[] data = RandomBytes((3 * 1024 * 1024) + 123, 1);
        var reports = new ConcurrentQueue<ObjectProgress>();
        long sent = await peer.SendObjectAsync(new MemoryStream(data), "data.bin", data.Length, progress: new SyncProgress(reports.Enqueue)).WaitAsync(Limit);

        Assert.Equal(data.Length, sent);
        (string path, long length) = await completed.Task.WaitAsync(Limit);
        Assert.Equal(Path.Combine(_folder, "data.bin"), path);
        Assert.Equal(data.Length, length);
        Assert.Equal(data, await File.ReadAllBytesAsync(path));
        Assert.False(File.Exists(path + ".part"));
        Assert.Equal(new ObjectProgress(data.Length, data.Length, 0), reports.Last());
        Assert.True(reports.Select(r => r.BytesDone).SequenceEqual(reports.Select(r => r.BytesDone).Order()), "progress never goes back");
    }

    [Fact]
    public async Task An_interrupted_transfer_resumes_with_only_the_missing_blocks()
    {
        await using UdpHost server = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0));
        await using var receiver = new ObjectReceiver(server, _folder);
        await using UdpHost client = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0));
        var options = new ObjectTransferOptions { BlockSize = 16 * 1024, MaxBlocksInFlight = 8 };
        byte[] data = RandomBytes(2 * 1024 * 1024, 2); // 128 blocks

        // First attempt: stop after about half the object is written.
        UdpPeer first = await client.ConnectAsync(server.LocalEndPoint).WaitAsync(Limit);
        using var stop = new CancellationTokenSource();
        var halfway = new SyncProgress(p =>
        {
            if (p.BytesDone >= data.Length / 2)
            {
                stop.Cancel();
            }
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first.SendObjectAsync(new MemoryStream(data), "big.bin", data.Length, options, halfway, stop.Token).WaitAsync(Limit));
        first.Disconnect();
        await Waits.UntilAsync(() => server.PeerCount == 0);
        Assert.True(File.Exists(Path.Combine(_folder, "big.bin.part.blocks")));

        // Second attempt, a new session: the receiver says what it has; only the rest is sent.
        var completed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        receiver.Completed += (_, _, _) => completed.TrySetResult();
        UdpPeer second = await client.ConnectAsync(server.LocalEndPoint).WaitAsync(Limit);
        var reports = new ConcurrentQueue<ObjectProgress>();
        long sent = await second.SendObjectAsync(new MemoryStream(data), "big.bin", data.Length, options, new SyncProgress(reports.Enqueue)).WaitAsync(Limit);
        await completed.Task.WaitAsync(Limit);

        int resumed = reports.First().BlocksResumed;
        Assert.True(resumed >= 32, $"{resumed} blocks resumed");
        Assert.Equal(data.Length - ((long)resumed * options.BlockSize), sent);
        Assert.Equal(data, await File.ReadAllBytesAsync(Path.Combine(_folder, "big.bin")));
        Assert.False(File.Exists(Path.Combine(_folder, "big.bin.part.blocks")));
    }

    [Theory]
    [InlineData("../escape.bin")]
    [InlineData("sub/dir.bin")]
    [InlineData("..")]
    [InlineData("")]
    public async Task A_name_that_is_not_a_plain_file_name_is_refused(string name)
    {
        await using UdpHost server = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0));
        await using var receiver = new ObjectReceiver(server, _folder);
        await using UdpHost client = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0));
        UdpPeer peer = await client.ConnectAsync(server.LocalEndPoint).WaitAsync(Limit);
        var error = await Assert.ThrowsAsync<UdpObjectTransferException>(() => peer.SendObjectAsync(new MemoryStream([1, 2, 3]), name, 3).WaitAsync(Limit));
        Assert.Contains("refused", error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(_folder)!, "escape.bin"));
    }

    /// <summary>Reports synchronously (Progress&lt;T&gt; posts to the thread pool, which would reorder reports).</summary>
    private sealed class SyncProgress(Action<ObjectProgress> report) : IProgress<ObjectProgress>
    {
        public void Report(ObjectProgress value) => report(value);
    }
}
