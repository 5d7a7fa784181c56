using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;

namespace Parley.Udp.Tests;

/// <summary>
/// Events are queued per peer and raised outside the host's lock: a handler that blocks holds
/// up its own peer's events only, and what its peer may make the host hold meanwhile is bounded.
/// </summary>
public class EventDispatchTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_handler_that_blocks_holds_up_only_its_own_peer_and_its_events_then_arrive_in_order()
    {
        await using UdpHost server = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0));
        await using UdpHost client = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0));
        using var release = new ManualResetEventSlim(false);
        var blocked = new ConcurrentQueue<int>();
        var other = new ConcurrentQueue<int>();
        int entered = 0;
        server.MessageReceived += (UdpPeer p, in UdpMessage m) =>
        {
            int value = BinaryPrimitives.ReadInt32LittleEndian(m.Data);
            if (m.Channel == 1)
            {
                Interlocked.Increment(ref entered);
                if (!release.Wait(Limit))
                {
                    throw new TimeoutException("the test never released the handler");
                }

                blocked.Enqueue(value);
            }
            else
            {
                other.Enqueue(value);
            }
        };
        var delivered = new ConcurrentDictionary<(UdpPeer Peer, uint Id), bool>();
        client.MessageStateChanged += (p, id, state) =>
        {
            if (state == MessageState.Delivered)
            {
                delivered[(p, id)] = true;
            }
        };

        UdpPeer slow = await client.ConnectAsync(server.LocalEndPoint).WaitAsync(Limit);
        UdpPeer fast = await client.ConnectAsync(server.LocalEndPoint).WaitAsync(Limit);
        var slowIds = Enumerable.Range(0, 10).Select(i => slow.Send(SessionTests.Payload(i, 100), DeliveryMode.ReliableOrdered, channel: 1).MessageId).ToList();
        await Waits.UntilAsync(() => Volatile.Read(ref entered) == 1, "the slow peer's handler to block");

        // The other session on the same host: every message arrives, is acknowledged and confirmed.
        const int count = 2000;
        var fastIds = new List<uint>();
        for (int i = 0; i < count; i++)
        {
            SendResult sent;
            while ((sent = fast.Send(SessionTests.Payload(i, 200))).Status == SendStatus.QueueFull)
            {
                await Task.Delay(1);
            }

            fastIds.Add(sent.MessageId);
        }

        await Waits.UntilAsync(() => other.Count == count && fastIds.All(id => delivered.ContainsKey((fast, id))), "the other peer's messages");
        Assert.Equal(Enumerable.Range(0, count), other);

        // The blocked peer's data was acknowledged (the protocol ran) but not delivered (its handler did not return).
        await Waits.UntilAsync(() => slowIds.All(id => slow.GetMessageState(id) == MessageState.Received), "the blocked peer's messages to be acknowledged");
        Assert.Equal(PeerState.Connected, slow.State);
        Assert.Empty(blocked);

        release.Set();
        await Waits.UntilAsync(() => blocked.Count == 10 && slowIds.All(id => delivered.ContainsKey((slow, id))), "the blocked peer's events");
        Assert.Equal(Enumerable.Range(0, 10), blocked);
    }

    [Fact]
    public void While_the_application_takes_no_events_reliable_data_stops_at_the_receive_window_and_none_is_lost()
    {
        const int window = 256 * 1024;
        var options = new UdpHostOptions { ReceiveWindowBytes = window, MaxMessageSize = 64 * 1024 };
        (Simulation sim, UdpHost server, _, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(70, new NetworkConditions { Delay = TimeSpan.FromMilliseconds(5) }, options);
        var got = new List<int>();
        server.MessageReceived += (UdpPeer p, in UdpMessage m) => got.Add(BinaryPrimitives.ReadInt32LittleEndian(m.Data));
        sim.HoldEvents(server);

        const int count = 2000; // 2 MB: eight windows
        for (int i = 0; i < count; i++)
        {
            Assert.True(toServer.Send(SessionTests.Payload(i, 1000)).IsQueued);
        }

        sim.RunFor(TimeSpan.FromSeconds(5));
        Assert.Empty(got);
        Assert.Equal(PeerState.Connected, toServer.State);
        Assert.Equal(PeerState.Connected, toClient.State);
        UdpStatistics sender = toServer.GetStatistics();
        Assert.Equal(count, sender.PendingMessages); // nothing failed, nothing was dropped
        Assert.True(sender.SendCredit < 1000, $"the sender is held by the window ({sender.SendCredit} bytes of credit left)");
        int queued = toClient.GetStatistics().QueuedEvents;
        Assert.InRange(queued, window / 1000 / 2, window / 1000); // about a window's worth, no more
        Assert.True(server.Buffers.Outstanding <= queued + 64, $"{server.Buffers.Outstanding} buffers held for {queued} queued messages");

        sim.ReleaseEvents(server);
        Assert.True(sim.RunUntil(() => got.Count == count && toServer.GetStatistics().PendingMessages == 0, TimeSpan.FromSeconds(30)));
        Assert.Equal(Enumerable.Range(0, count), got);
        Assert.Equal(0, toClient.GetStatistics().QueuedEvents);
    }

    [Fact]
    public void While_the_application_takes_no_events_empty_reliable_messages_are_bounded_by_what_their_entries_hold()
    {
        const int window = 64 * 1024;
        var options = new UdpHostOptions { ReceiveWindowBytes = window, MaxMessageSize = 16 * 1024 };
        (Simulation sim, UdpHost server, _, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(71, options: options);
        int got = 0;
        server.MessageReceived += (UdpPeer p, in UdpMessage m) => got++;
        sim.HoldEvents(server);
        const int count = 20_000;
        for (int i = 0; i < count; i++)
        {
            Assert.True(toServer.Send([]).IsQueued);
        }

        sim.RunFor(TimeSpan.FromSeconds(5));
        int queued = toClient.GetStatistics().QueuedEvents;
        Assert.InRange(queued, 1, window / 96); // each holds an entry of 96 bytes and a 64-byte buffer's worth: no more than a window of them
        Assert.Equal(PeerState.Connected, toServer.State);

        sim.ReleaseEvents(server);
        Assert.True(sim.RunUntil(() => got == count && toServer.GetStatistics().PendingMessages == 0, TimeSpan.FromSeconds(60)));
    }

    [Fact]
    public void While_the_application_takes_no_events_unreliable_messages_past_a_window_are_dropped_and_counted()
    {
        const int window = 64 * 1024;
        var options = new UdpHostOptions { ReceiveWindowBytes = window, MaxMessageSize = 16 * 1024 };
        (Simulation sim, UdpHost server, _, UdpPeer toServer, UdpPeer toClient) = SessionTests.Connected(72, options: options);
        var got = new List<int>();
        server.MessageReceived += (UdpPeer p, in UdpMessage m) => got.Add(BinaryPrimitives.ReadInt32LittleEndian(m.Data));
        sim.HoldEvents(server);
        for (int i = 0; i < 400; i++)
        {
            Assert.True(toServer.Send(SessionTests.Payload(i, 1000), DeliveryMode.Unreliable).IsQueued);
            sim.RunFor(TimeSpan.FromMilliseconds(1));
        }

        sim.RunFor(TimeSpan.FromSeconds(1));
        UdpStatistics receiver = toClient.GetStatistics();
        int kept = window / (1024 + 96); // each holds its pooled buffer (1 KiB) and an entry
        Assert.Equal(kept, receiver.QueuedEvents);
        Assert.Equal(400 - kept, receiver.UnreliableMessagesDropped);

        sim.ReleaseEvents(server);
        sim.RunFor(TimeSpan.FromMilliseconds(10));
        Assert.Equal(Enumerable.Range(0, kept), got); // the first ones, in order; the rest were dropped
        Assert.Equal(0, server.Buffers.Outstanding); // every queued message's buffer came back
    }

    [Fact]
    public void A_final_state_not_yet_raised_holds_its_message_slot()
    {
        var options = new UdpHostOptions { MaxPendingMessages = 16 };
        (Simulation sim, UdpHost server, UdpHost client, UdpPeer toServer, _) = SessionTests.Connected(73, options: options);
        var states = new List<(uint Id, MessageState State)>();
        client.MessageStateChanged += (p, id, state) => states.Add((id, state));
        sim.HoldEvents(client);
        var ids = Enumerable.Range(0, 16).Select(i => toServer.Send([(byte)i]).MessageId).ToList();
        Assert.True(sim.RunUntil(() => toServer.GetStatistics().PendingMessages == 0, TimeSpan.FromSeconds(5)));
        Assert.Equal(MessageState.Delivered, toServer.GetMessageState(ids[^1]));
        Assert.Equal(SendStatus.QueueFull, toServer.Send([99]).Status); // 16 Delivered events wait: their slots are still taken

        sim.ReleaseEvents(client);
        sim.RunFor(TimeSpan.FromMilliseconds(1));
        foreach (uint id in ids)
        {
            Assert.Equal([MessageState.Sent, MessageState.Received, MessageState.Delivered], states.Where(s => s.Id == id).Select(s => s.State));
        }

        Assert.Equal(SendStatus.Queued, toServer.Send([99]).Status);
    }

    // UnsafePreferInlineScheduling: the host's own two threads raise the events once they let go
    // of the lock — not the thread pool — and what holds for events on the pool
    // holds here too: one peer's in order, the lock free (a handler sends, reads statistics),
    // every message confirmed, connect and disconnect raised.
    [Fact]
    public async Task With_inline_scheduling_the_hosts_own_threads_raise_events_outside_the_lock_in_order()
    {
        var options = new UdpHostOptions { UnsafePreferInlineScheduling = true };
        await using UdpHost server = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0), options);
        await using UdpHost client = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0), options);
        var threads = new ConcurrentDictionary<string, bool>();
        var calls = new ConcurrentDictionary<string, int>();
        void Note()
        {
            string name = Thread.CurrentThread.IsThreadPoolThread ? "pool" : Thread.CurrentThread.Name ?? "?";
            threads[name] = true;
            calls.AddOrUpdate(name, 1, (_, n) => n + 1);
        }

        var received = new ConcurrentQueue<int>();
        var echoed = new ConcurrentQueue<int>();
        var connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var disconnected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        server.PeerConnected += p =>
        {
            Note();
            connected.TrySetResult();
        };
        server.PeerDisconnected += p =>
        {
            Note();
            disconnected.TrySetResult();
        };
        server.MessageReceived += (UdpPeer p, in UdpMessage m) =>
        {
            Note();
            int value = BinaryPrimitives.ReadInt32LittleEndian(m.Data);
            received.Enqueue(value);
            _ = p.GetStatistics(); // takes the host's lock: free here
            SendResult sent = p.Send(m.Data, DeliveryMode.ReliableOrdered); // a reply from inside the handler
            Assert.True(sent.IsQueued, sent.Status.ToString());
        };
        client.MessageReceived += (UdpPeer p, in UdpMessage m) =>
        {
            Note();
            echoed.Enqueue(BinaryPrimitives.ReadInt32LittleEndian(m.Data));
        };
        var delivered = new ConcurrentDictionary<uint, bool>();
        client.MessageStateChanged += (p, id, state) =>
        {
            Note();
            if (state == MessageState.Delivered)
            {
                delivered[id] = true;
            }
        };

        UdpPeer toServer = await client.ConnectAsync(server.LocalEndPoint).WaitAsync(Limit);
        await connected.Task.WaitAsync(Limit);
        const int count = 5000;
        var ids = new List<uint>();
        for (int i = 0; i < count; i++)
        {
            SendResult sent;
            while ((sent = toServer.Send(SessionTests.Payload(i, 64 + (i % 900)))).Status == SendStatus.QueueFull)
            {
                await Task.Delay(1);
            }

            ids.Add(sent.MessageId);
        }

        await Waits.UntilAsync(() => echoed.Count == count && ids.All(delivered.ContainsKey), "every message echoed and confirmed");
        Assert.Equal(Enumerable.Range(0, count), received);
        Assert.Equal(Enumerable.Range(0, count), echoed);

        await toServer.DisconnectAsync(Limit);
        await disconnected.Task.WaitAsync(Limit);

        // A peer's run that used its 16 batches goes on on the pool (so other peers get a turn):
        // under load some calls may land there; most run on the host's threads.
        Assert.Subset(new HashSet<string> { "parley-udp-receive", "parley-udp-send", "pool" }, threads.Keys.ToHashSet());
        Assert.True(calls.GetValueOrDefault("parley-udp-receive") + calls.GetValueOrDefault("parley-udp-send") > calls.GetValueOrDefault("pool"), string.Join(", ", calls));
        Assert.True(calls.GetValueOrDefault("parley-udp-receive") > 0);
    }

    // Inline, an event that a handler causes for another peer (its Disconnect) goes to the pool:
    // the handler's thread would raise it only after its next datagram, and a quiet host has none
    // to come — the event waited, and Dispose then waited for it for good (review of session 11).
    [Fact]
    public async Task With_inline_scheduling_an_event_caused_by_a_handler_is_raised_and_Dispose_returns()
    {
        var quiet = new UdpHostOptions { StartHeartbeatTimeout = TimeSpan.FromSeconds(60), HeartbeatTimeout = TimeSpan.FromSeconds(120) };
        await using UdpHost client = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0), quiet);
        UdpHost server = UdpHost.Start(new IPEndPoint(IPAddress.Loopback, 0), new UdpHostOptions
        {
            UnsafePreferInlineScheduling = true,
            StartHeartbeatTimeout = TimeSpan.FromSeconds(60),
            HeartbeatTimeout = TimeSpan.FromSeconds(120),
        });
        var peers = new ConcurrentQueue<UdpPeer>();
        var disconnected = new ConcurrentDictionary<UdpPeer, bool>();
        server.PeerConnected += peers.Enqueue;
        server.PeerDisconnected += p => disconnected[p] = true;
        UdpPeer? other = null;
        int handled = 0;
        server.MessageReceived += (UdpPeer p, in UdpMessage m) =>
        {
            other!.Disconnect();
            Interlocked.Increment(ref handled);
        };

        UdpPeer a = await client.ConnectAsync(server.LocalEndPoint).WaitAsync(Limit);
        await Waits.UntilAsync(() => peers.Count == 1, "the first session");
        UdpPeer serverSideOfA = peers.First();
        await client.ConnectAsync(server.LocalEndPoint).WaitAsync(Limit);
        await Waits.UntilAsync(() => peers.Count == 2, "the second session");
        other = peers.First(p => p != serverSideOfA);
        await Task.Delay(300); // lets the handshakes' last packets in, so the server's receive thread is idle (the case that failed); not a synchronisation
        a.Send([1], DeliveryMode.Unreliable);
        await Waits.UntilAsync(() => Volatile.Read(ref handled) == 1, "the handler");
        await Waits.UntilAsync(() => disconnected.ContainsKey(other), "the other peer's PeerDisconnected");
        await Task.Run(server.Dispose).WaitAsync(Limit);
    }
}
