using System.Net.Sockets;
using System.Text;
using Parley.Tests;
using static Parley.Http.Tests.StaticServingTests;

namespace Parley.Http.Tests;

/// <summary>Defects found in review 19, each as a failing test.</summary>
public class ReviewFindingsTests
{
    // StopAsync disposes the heartbeat before waiting for the connections, so a connection in
    // Head / Body / Lingering / Sending is never timed out again: StopAsync() without a token hangs.
    [Fact]
    public async Task Review_StopAsync_without_token_does_not_hang_on_a_partial_head()
    {
        var time = new ManualTime();
        HttpHarness http = await HttpHarness.StartAsync(o => { o.TimeProvider = time; o.RequestHeadTimeout = TimeSpan.FromSeconds(10); });
        RawClient client = await http.ConnectAsync();
        Task stop = Task.CompletedTask;
        try
        {
            await client.SendAsync("GET /hello.txt HTTP/1.1\r\nHo");
            await http.WaitForPhaseAsync("Head");
            stop = http.Server.StopAsync();

            // Move the server's clock past the head timeout and the linger, again and again, until
            // the stop completes (bounded): with the heartbeat gone it never would.
            long start = Environment.TickCount64;
            while (!stop.IsCompleted && Environment.TickCount64 - start < HttpHarness.Patience.TotalMilliseconds)
            {
                time.Advance(TimeSpan.FromSeconds(11));
                await Task.WhenAny(stop, Task.Delay(50));
            }

            Assert.True(stop.IsCompleted, "StopAsync() still waiting; phases: " + string.Join(",", http.Server.DescribeConnections()));
        }
        finally
        {
            client.Dispose();
            await stop.WaitAsync(HttpHarness.Patience);
            await http.DisposeAsync();
        }
    }

    // SendTimeout is documented as nginx's send_timeout (between two writes), but the deadline is
    // set once per SendPacketsAsync: a download that keeps making progress was aborted after 60 s.
    [Fact]
    public async Task Review_a_large_download_making_progress_is_not_aborted_by_the_send_timeout()
    {
        const int size = 64 * 1024 * 1024;
        var time = new ManualTime();
        await using HttpHarness http = await HttpHarness.StartAsync(
            o => { o.TimeProvider = time; o.SendTimeout = TimeSpan.FromSeconds(60); },
            populate: root =>
            {
                using var f = new FileStream(Path.Combine(root, "big.bin"), FileMode.Create);
                f.SetLength(size);
            });
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 64 * 1024 };
        await socket.ConnectAsync(http.EndPoint);
        using (socket)
        {
            await socket.SendAsync(Encoding.ASCII.GetBytes(Request("/big.bin")));
            byte[] buffer = new byte[256 * 1024];
            long total = 0;
            async Task<int> ReadAsync()
            {
                int n = await socket.ReceiveAsync(buffer.AsMemory()).AsTask().WaitAsync(HttpHarness.Patience);
                total += n;
                return n;
            }

            // A steady reader: 1 MiB, then 10 s of the server's clock, over and over — 640 s in
            // all against a 60 s send timeout. Each piece the server sends has six steps (6 MiB
            // read, more than any socket buffer holds) to complete, however the buffers sit.
            try
            {
                bool open = true;
                while (open && total < size)
                {
                    long mark = total;
                    while (open && total < mark + (1024 * 1024) && total < size)
                    {
                        open = await ReadAsync() > 0;
                    }

                    time.Advance(TimeSpan.FromSeconds(10));
                }
            }
            catch (SocketException)
            {
            }

            Assert.True(total >= size, $"aborted after {total} of {size} body bytes (plus head)");
        }
    }

    // Revalidation compares the *resolved* file, so retargeting a symlink inside the root (the
    // atomic-deploy pattern current -> v1 => current -> v2) is never noticed without the watcher.
    [Fact]
    public async Task Review_retargeting_a_symlink_in_the_root_is_noticed_on_revalidation()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        string? root = null;
        await using HttpHarness http = await HttpHarness.StartAsync(
            files: f => { f.WatchForChanges = false; f.RevalidateInterval = TimeSpan.Zero; },
            populate: r =>
            {
                root = r;
                Directory.CreateDirectory(Path.Combine(r, "v1"));
                Directory.CreateDirectory(Path.Combine(r, "v2"));
                File.WriteAllText(Path.Combine(r, "v1", "a.txt"), "one");
                File.WriteAllText(Path.Combine(r, "v2", "a.txt"), "two");
                Directory.CreateSymbolicLink(Path.Combine(r, "current"), "v1");
            });
        Assert.Equal("one", (await http.GetAsync(Request("/current/a.txt"))).Text);
        File.Delete(Path.Combine(root!, "current"));
        Directory.CreateSymbolicLink(Path.Combine(root!, "current"), "v2");
        Assert.Equal("two", Encoding.UTF8.GetString(File.ReadAllBytes(Path.Combine(root!, "current", "a.txt"))));
        Assert.Equal("two", (await http.GetAsync(Request("/current/a.txt"))).Text);
    }

    // The folder redirect copies the raw path, so "//docs" (normalized to /docs) redirects to the
    // protocol-relative URL "//docs/": another host.
    [Fact]
    public async Task Review_a_folder_redirect_never_points_at_another_host()
    {
        await using HttpHarness http = await HttpHarness.StartAsync();
        HttpReply reply = await http.GetAsync(Request("//docs"));
        Assert.Equal(301, reply.Status);
        Assert.False(reply["Location"]!.StartsWith("//", StringComparison.Ordinal), "Location: " + reply["Location"]);
    }

    // A one-byte trailer line split from its LF is taken as the empty line ending the trailers.
    [Fact]
    public void Review_a_trailer_line_split_before_its_LF_does_not_end_the_trailers()
    {
        byte[] first = Encoding.ASCII.GetBytes("0\r\nX");
        byte[] second = Encoding.ASCII.GetBytes("\nY: z\r\n\r\n");
        var skipper = new BodySkipper();
        skipper.StartChunked();
        Assert.Equal(BodySkipper.Result.NeedMoreData, skipper.Skip(first, 1 << 20, 4096, out int used));
        Assert.Equal(first.Length, used);
        Assert.Equal(BodySkipper.Result.Done, skipper.Skip(second, 1 << 20, 4096, out used));
        Assert.Equal(second.Length, used);
    }
}
