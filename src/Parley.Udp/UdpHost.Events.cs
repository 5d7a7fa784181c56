namespace Parley.Udp;

// Events for the application: each peer queues its own (PeerEventQueue) under the lock; they are
// raised outside it — on the thread pool for a host with threads (or on its own threads, with
// UnsafePreferInlineScheduling), on the caller's thread for one driven by hand (DispatchEvents:
// tests and the in-memory benchmark).
public sealed partial class UdpHost
{
    private readonly Queue<PeerEventQueue> _readyEvents = new(); // a host without threads: peers with events to raise

    // Event runs queued to the thread pool and not ended yet (under Gate), and a signal for
    // Dispose that there are none: it returns only after the handlers of its sessions returned.
    private int _eventRuns;
    private readonly ManualResetEventSlim _eventsIdle = new(initialState: true);

    /// <summary>The host whose handlers this thread is running now, if any: Dispose from inside a handler must not wait for itself.</summary>
    [ThreadStatic]
    internal static UdpHost? RaisingOn;

    /// <summary>
    /// <see cref="UdpHostOptions.UnsafePreferInlineScheduling"/>: the host whose I/O thread this
    /// is, and the event queues that thread raises once it has let go of the lock.
    /// </summary>
    [ThreadStatic]
    private static UdpHost? t_inlineHost;

    [ThreadStatic]
    private static List<PeerEventQueue>? t_inlineRuns;

    [ThreadStatic]
    private static List<PeerEventQueue>? t_inlineRunning;

    /// <summary>The calling thread (one of the driver's two) raises this host's events itself when the option is on.</summary>
    internal void AdoptInlineEvents()
    {
        if (Options.UnsafePreferInlineScheduling)
        {
            t_inlineHost = this;
            t_inlineRuns = [];
            t_inlineRunning = [];
        }
    }

    /// <summary>
    /// On a driver thread, after it released the lock: raises the event queues it scheduled
    /// (<see cref="UdpHostOptions.UnsafePreferInlineScheduling"/>). One run each; a queue that
    /// has had its turn and still has events goes on on the thread pool (see <see cref="PeerEventQueue"/>).
    /// </summary>
    internal static void RunInlineEvents()
    {
        // Only the thread's own lock sections schedule here (not its handlers: those go to the
        // pool, see ScheduleEvents), so one pass normally empties the list; the loop is the
        // backstop that no queue is left on it while the thread goes back to block on its socket.
        List<PeerEventQueue>? runs = t_inlineRuns;
        while (runs is not null && runs.Count > 0)
        {
            // Swapped, not iterated in place: the list must not change under the loop.
            List<PeerEventQueue> running = t_inlineRunning!;
            t_inlineRunning = runs;
            t_inlineRuns = running;
            foreach (PeerEventQueue queue in runs)
            {
                queue.Run();
            }

            runs.Clear();
            runs = t_inlineRuns;
        }
    }

    /// <summary>A driver thread is ending: queues still on its inline list (none, normally) are raised on the thread pool.</summary>
    internal static void HandOffInlineEvents()
    {
        List<PeerEventQueue>? runs = t_inlineRuns;
        if (runs is null)
        {
            return;
        }

        foreach (PeerEventQueue queue in runs)
        {
            ThreadPool.UnsafeQueueUserWorkItem(queue, preferLocal: false);
        }

        runs.Clear();
        t_inlineHost = null;
    }

    /// <summary>An event run ended (or handed over to a later one). Caller holds the lock.</summary>
    internal void OnEventRunEnded()
    {
        if (_driver is not null && --_eventRuns == 0)
        {
            _eventsIdle.Set();
        }
    }

    /// <summary>Waits until no event run is queued or running (Dispose), unless called from one of this host's handlers.</summary>
    private void WaitForEventRuns()
    {
        if (RaisingOn != this)
        {
            _eventsIdle.Wait();
        }
    }

    /// <summary>Whether a handler of this host is running on the calling thread (for DisposeAsync, which waits on another).</summary>
    private bool InHandler => RaisingOn == this;

    /// <summary>Raises one queued event (outside the lock, from the peer's <see cref="PeerEventQueue"/>; <paramref name="data"/>: a message's bytes). A handler that throws is logged.</summary>
    internal void Raise(UdpPeer peer, in PeerEvent item, ReadOnlySpan<byte> data)
    {
        try
        {
            switch (item.Kind)
            {
                case PeerEventKind.Message:
                    MessageReceived?.Invoke(peer, new UdpMessage(data, item.Channel, item.Mode, item.Id));
                    break;
                case PeerEventKind.MessageState:
                    MessageStateChanged?.Invoke(peer, item.Id, item.State);
                    break;
                case PeerEventKind.Connected:
                    PeerConnected?.Invoke(peer);
                    break;
                case PeerEventKind.Disconnected:
                    PeerDisconnected?.Invoke(peer);
                    break;
                case PeerEventKind.AddressChanged:
                    PeerAddressChanged?.Invoke(peer);
                    break;
            }
        }
        catch (Exception exception)
        {
            Log.HandlerFailed(_logger, exception); // an application bug must not stop the peer's events; logged
        }
    }

    /// <summary>
    /// A peer's event queue has something to raise: on the thread pool, on this driver thread once
    /// it lets go of the lock (<see cref="UdpHostOptions.UnsafePreferInlineScheduling"/>; not a
    /// queue that <paramref name="hadItsTurn"/>, nor one scheduled by a handler), or (a host
    /// without threads) in the ready list.
    /// Caller holds the lock.
    /// </summary>
    internal void ScheduleEvents(PeerEventQueue queue, bool hadItsTurn = false)
    {
        if (_driver is not null)
        {
            if (_eventRuns++ == 0)
            {
                _eventsIdle.Reset();
            }

            // Inline only what the driver thread's own lock sections produced. Not what a handler
            // running on it causes (another peer's Disconnect, this host's Dispose): the thread
            // would raise that only after its next datagram, and a quiet host has none to come.
            if (t_inlineHost == this && !hadItsTurn && RaisingOn != this)
            {
                t_inlineRuns!.Add(queue);
            }
            else
            {
                ThreadPool.UnsafeQueueUserWorkItem(queue, preferLocal: false);
            }
        }
        else
        {
            _readyEvents.Enqueue(queue);
        }
    }

    /// <summary>
    /// A host without threads (tests, the in-memory benchmark): raises every queued event on the
    /// calling thread, which must not hold the lock (as the host's threads do not when they raise).
    /// </summary>
    internal void DispatchEvents()
    {
        for (int guard = 0; guard < 1_000_000; guard++)
        {
            PeerEventQueue? next;
            lock (Gate)
            {
                if (!_readyEvents.TryDequeue(out next))
                {
                    return;
                }
            }

            next.Run();
        }
    }

    /// <summary>True when a host without threads has events to raise (tests).</summary>
    internal bool HasEvents => _readyEvents.Count > 0;

    private static void RaisePeer(PeerEventKind kind, UdpPeer peer) => peer.Events.Add(new PeerEvent { Kind = kind });
}
