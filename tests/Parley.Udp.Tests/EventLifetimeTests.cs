using System.Net;

namespace Parley.Udp.Tests;

/// <summary>Events outside the lock, at the ends: disposal waits for the handlers of its sessions; an idle peer gives its queue memory back.</summary>
public class EventLifetimeTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    // Dispose used to raise every session's PeerDisconnected before it returned; with events on the
    // thread pool it must still wait for the handlers of its sessions, so none runs after it.
    [Fact]
    public async Task DisposeAsync_completes_only_after_the_handlers_of_its_sessions_have_returned()
    {
        await using UdpHost client = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0));
        UdpHost server = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0));
        using var release = new ManualResetEventSlim(false);
        int entered = 0;
        var disconnected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        server.MessageReceived += (UdpPeer p, in UdpMessage m) =>
        {
            if (Interlocked.Increment(ref entered) == 1 && !release.Wait(Limit))
            {
                throw new TimeoutException("never released");
            }
        };
        server.PeerDisconnected += p => disconnected.TrySetResult();

        UdpPeer toServer = await client.ConnectAsync(server.LocalEndPoint).WaitAsync(Limit);
        toServer.Send([1], DeliveryMode.ReliableOrdered);
        toServer.Send([2], DeliveryMode.ReliableOrdered);
        await Waits.UntilAsync(() => Volatile.Read(ref entered) == 1, "the handler to block");

        Task disposing = server.DisposeAsync().AsTask();
        await Task.WhenAny(disposing, Task.Delay(TimeSpan.FromSeconds(2))); // a bound, not a synchronisation
        bool completedWhileAHandlerRan = disposing.IsCompleted;
        release.Set();
        await disposing.WaitAsync(Limit);
        bool disconnectedBeforeDisposeCompleted = !completedWhileAHandlerRan && disconnected.Task.IsCompleted;
        await disconnected.Task.WaitAsync(Limit);
        Assert.False(completedWhileAHandlerRan, "DisposeAsync completed while a handler of its session still ran");
        Assert.True(disconnectedBeforeDisposeCompleted, "PeerDisconnected was raised after DisposeAsync completed");
    }

    // A burst of events that fell behind grows the peer's event lists; an idle connected peer gives
    // that memory back once they are raised and a second has passed with no batch that large (on
    // its timer: not at the end of each run, where a steady stream would regrow them every time).
    [Fact]
    public void A_peer_whose_events_fell_behind_gives_the_queues_memory_back_once_they_are_raised()
    {
        (Simulation sim, _, UdpHost client, UdpPeer toServer, _) = SessionTests.Connected(90);
        sim.HoldEvents(client);
        const int count = 5000;
        for (int i = 0; i < count; i++)
        {
            Assert.True(toServer.Send(SessionTests.Payload(i, 8)).IsQueued);
        }

        Assert.True(sim.RunUntil(() => toServer.GetStatistics().PendingMessages == 0, TimeSpan.FromSeconds(30)));
        Assert.True(toServer.GetStatistics().QueuedEvents >= 3 * count);
        sim.ReleaseEvents(client);
        sim.RunFor(TimeSpan.FromMilliseconds(10));
        Assert.Equal(0, toServer.GetStatistics().QueuedEvents);
        Assert.True(toServer.Events.CapacityBytes > 16 * 1024, "the lists stay while events may still come");
        sim.RunFor(TimeSpan.FromSeconds(3));
        Assert.Equal(PeerState.Connected, toServer.State);
        long held = toServer.Events.CapacityBytes;
        Assert.True(held <= 16 * 1024, $"{held} bytes of event lists kept by an idle connected peer");
    }

    // The lists are given back on the peer's timer once its events are quiet, not at the end of
    // each run: a stream whose queue empties after every run must not regrow them every time.
    [Fact]
    public void A_steady_stream_does_not_regrow_the_event_lists_run_after_run()
    {
        (Simulation sim, UdpHost server, _, UdpPeer toServer, _) = SessionTests.Connected(92);
        long received = 0;
        server.MessageReceived += (UdpPeer p, in UdpMessage m) => received++;
        byte[] payload = SessionTests.Payload(1, 64);

        void Burst(int rounds)
        {
            for (int round = 0; round < rounds; round++)
            {
                long target = received + 2000;
                for (int i = 0; i < 2000; i++)
                {
                    Assert.True(toServer.Send(payload, DeliveryMode.ReliableOrdered).IsQueued);
                }

                Assert.True(sim.RunUntil(() => received == target, TimeSpan.FromSeconds(30)));
            }
        }

        Burst(5); // warm: every list and pool at its working size
        long before = GC.GetAllocatedBytesForCurrentThread();
        Burst(20);
        long perMessage = (GC.GetAllocatedBytesForCurrentThread() - before) / 40_000;

        // What remains is the simulated network's copy of each datagram: about 78 bytes per 64 B
        // message (a 1472 B datagram carries about 20). Regrowing the lists each run added about
        // 150 more (226 in all when this test was written).
        Assert.True(perMessage < 120, $"{perMessage} bytes allocated per message in steady state");
    }

    // Inline (UnsafePreferInlineScheduling): the handler runs on the host's receive thread, which
    // Dispose must then neither join nor wait for (it did, and hung); nor DisposeAsync, which
    // stops the threads on another thread while the handler may block on it.
    [Theory]
    [InlineData("Dispose", false)]
    [InlineData("DisposeAsync", false)]
    [InlineData("DisposeAsync waited", false)]
    [InlineData("Dispose", true)]
    [InlineData("DisposeAsync", true)]
    [InlineData("DisposeAsync waited", true)]
    public async Task A_handler_that_disposes_its_own_host_does_not_wait_for_itself(string how, bool inline)
    {
        await using UdpHost client = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0));
        UdpHost server = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0), new UdpHostOptions { UnsafePreferInlineScheduling = inline });
        var disposed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        server.MessageReceived += (UdpPeer p, in UdpMessage m) =>
        {
            switch (how)
            {
                case "Dispose":
                    server.Dispose();
                    disposed.TrySetResult();
                    break;
                case "DisposeAsync":
                    server.DisposeAsync().AsTask().ContinueWith(_ => disposed.TrySetResult(), TaskScheduler.Default);
                    break;
                default:
                    server.DisposeAsync().AsTask().Wait(); // blocks the handler's thread until the host stopped
                    disposed.TrySetResult();
                    break;
            }
        };

        UdpPeer toServer = await client.ConnectAsync(server.LocalEndPoint).WaitAsync(Limit);
        toServer.Send([1], DeliveryMode.ReliableOrdered);
        await disposed.Task.WaitAsync(Limit);
    }

    // Dispose from an inline handler ends every session of the host: each one's PeerDisconnected
    // is raised, not only the handler's own peer's. They used to be queued for the handler's
    // thread to raise after it returned, and it then left its loop without raising them (review
    // of session 11: one of two was raised).
    [Fact]
    public async Task Dispose_from_an_inline_handler_raises_every_sessions_PeerDisconnected()
    {
        await using UdpHost client = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0));
        UdpHost server = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0), new UdpHostOptions { UnsafePreferInlineScheduling = true });
        var disconnected = new System.Collections.Concurrent.ConcurrentDictionary<UdpPeer, bool>();
        var connected = new System.Collections.Concurrent.ConcurrentDictionary<UdpPeer, bool>();
        server.PeerConnected += p => connected[p] = true;
        server.PeerDisconnected += p => disconnected[p] = true;
        var disposed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        server.MessageReceived += (UdpPeer p, in UdpMessage m) =>
        {
            server.Dispose();
            disposed.TrySetResult();
        };

        UdpPeer a = await client.ConnectAsync(server.LocalEndPoint).WaitAsync(Limit);
        UdpPeer b = await client.ConnectAsync(server.LocalEndPoint).WaitAsync(Limit);
        await Waits.UntilAsync(() => connected.Count == 2, "two sessions");
        a.Send([1], DeliveryMode.ReliableOrdered);
        await disposed.Task.WaitAsync(Limit);
        await Waits.UntilAsync(() => disconnected.Count == 2, "both sessions' PeerDisconnected");
        Assert.Equal(connected.Keys.ToHashSet(), disconnected.Keys.ToHashSet());
    }

    // Dispose from an inline handler on the send thread (a Sent state, a timer's event): the
    // thread that would send the Close packets is the one blocked in Dispose, so it sends them
    // itself first. It used to wait 200 ms for itself and send nothing: the peer's session then
    // ended by its idle timeout, not by the Close (review of session 11).
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Dispose_from_an_inline_handler_on_the_send_thread_still_sends_the_Close(bool async)
    {
        UdpHost client = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0), new UdpHostOptions { UnsafePreferInlineScheduling = true });
        await using UdpHost server = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0));
        var serverDisconnected = new TaskCompletionSource<CloseReason>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.PeerDisconnected += p => serverDisconnected.TrySetResult(p.CloseReason);
        string? thread = null;
        client.MessageStateChanged += (p, id, state) =>
        {
            if (state == MessageState.Sent && thread is null)
            {
                thread = Thread.CurrentThread.Name;
                if (async)
                {
                    client.DisposeAsync().AsTask().Wait(); // blocks the send thread until the host stopped
                }
                else
                {
                    client.Dispose();
                }
            }
        };

        UdpPeer toServer = await client.ConnectAsync(server.LocalEndPoint).WaitAsync(Limit);
        toServer.Send([1], DeliveryMode.ReliableOrdered);
        CloseReason reason = await serverDisconnected.Task.WaitAsync(Limit); // within the limit only by the Close: the idle timeout is 10 s, but no wait here depends on it
        Assert.Equal("parley-udp-send", thread);
        Assert.Equal(CloseReason.RemoteClose, reason);
    }

    // A burst grows the lists; afterwards the peer's events trickle (one message every 300 ms,
    // a presence update, a game tick): the burst's lists are given back all the same (a check
    // for "quiet for a second" kept them for the rest of the session; review of session 10).
    [Fact]
    public void A_peer_whose_events_trickle_after_a_burst_gives_the_bursts_list_memory_back()
    {
        (Simulation sim, _, UdpHost client, UdpPeer toServer, _) = SessionTests.Connected(93);
        sim.HoldEvents(client);
        const int count = 5000;
        for (int i = 0; i < count; i++)
        {
            Assert.True(toServer.Send(SessionTests.Payload(i, 8)).IsQueued);
        }

        Assert.True(sim.RunUntil(() => toServer.GetStatistics().PendingMessages == 0, TimeSpan.FromSeconds(30)));
        sim.ReleaseEvents(client);
        sim.RunFor(TimeSpan.FromMilliseconds(10));
        Assert.Equal(0, toServer.GetStatistics().QueuedEvents);

        for (int i = 0; i < 20; i++)
        {
            Assert.True(toServer.Send(SessionTests.Payload(i, 8)).IsQueued);
            sim.RunFor(TimeSpan.FromMilliseconds(300));
        }

        Assert.Equal(PeerState.Connected, toServer.State);
        long held = toServer.Events.CapacityBytes;
        Assert.True(held <= 16 * 1024, $"{held} bytes of event lists kept 6 s after the burst by a peer raising one event at a time");
    }
}
