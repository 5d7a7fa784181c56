namespace Parley.Udp;

/// <summary>What a sent packet carried that must be acted on when it is acknowledged or lost.</summary>
internal struct SentItem
{
    /// <summary>A reliable message fragment (null for a delivered confirmation).</summary>
    public OutgoingMessage? Message;
    public int Version;
    public ushort Fragment;

    /// <summary>Message ids confirmed as delivered (when <see cref="Message"/> is null).</summary>
    public DeliveredRun Delivered;
}

/// <summary>One sent, ack-eliciting packet.</summary>
internal struct SentPacket
{
    public long Number;
    public long SentAt;
    public int Size;
    public long ItemStart;
    public int ItemCount;

    /// <summary>0 outstanding, 1 acknowledged, 2 lost.</summary>
    public byte Outcome;
    public bool IsProbe;
}

/// <summary>
/// The packets a peer sent from the oldest one not yet acknowledged or declared lost, in
/// packet-number order (every number has its slot, so a packet is found by subtraction;
/// packets that need no acknowledgement are logged already settled), with
/// the items each carried in a second ring. Both rings grow by doubling and are reused: no
/// allocation in steady state. Settled packets are dropped from the front as soon as every older
/// one is settled too. Not thread-safe.
/// </summary>
internal sealed class SentPacketLog
{
    // Empty until the first packet: an idle session costs nothing here (8845 sessions of issue 16
    // held 44 KB each in these two arrays from their first moment). Both grow by doubling.
    private const int InitialPackets = 32;
    private const int InitialItems = 128;
    private SentPacket[] _packets = [];
    private SentItem[] _items = [];
    private int _head;            // index of the oldest packet
    private long _itemHead;       // absolute index of the oldest item
    private long _itemTail;       // absolute index past the newest item

    public int Count { get; private set; }

    /// <summary>The oldest packet's number (valid when <see cref="Count"/> &gt; 0).</summary>
    public long FirstNumber => _packets[_head].Number;

    public long ItemTail => _itemTail;

    /// <summary>Bytes of the log's two arrays.</summary>
    public long CapacityBytes => ((long)_packets.Length * System.Runtime.CompilerServices.Unsafe.SizeOf<SentPacket>()) + ((long)_items.Length * System.Runtime.CompilerServices.Unsafe.SizeOf<SentItem>());

    public ref SentPacket At(int index) => ref _packets[(_head + index) & (_packets.Length - 1)];

    /// <summary>The packet numbered <paramref name="number"/>, or a null ref when it is not logged.</summary>
    public ref SentPacket Find(long number)
    {
        if (Count == 0)
        {
            return ref System.Runtime.CompilerServices.Unsafe.NullRef<SentPacket>();
        }

        long offset = number - FirstNumber;
        if ((ulong)offset >= (ulong)Count)
        {
            return ref System.Runtime.CompilerServices.Unsafe.NullRef<SentPacket>();
        }

        return ref At((int)offset);
    }

    public void AddItem(in SentItem item)
    {
        if (_itemTail - _itemHead == _items.Length)
        {
            GrowItems();
        }

        _items[_itemTail & (_items.Length - 1)] = item;
        _itemTail++;
    }

    public ref SentItem Item(long absoluteIndex) => ref _items[absoluteIndex & (_items.Length - 1)];

    /// <summary>Logs a packet whose items were added since <paramref name="itemStart"/>.</summary>
    public void Add(long number, long sentAt, int size, long itemStart, bool isProbe)
    {
        if (Count == _packets.Length)
        {
            GrowPackets();
        }

        _packets[(_head + Count) & (_packets.Length - 1)] = new SentPacket
        {
            Number = number,
            SentAt = sentAt,
            Size = size,
            ItemStart = itemStart,
            ItemCount = (int)(_itemTail - itemStart),
            IsProbe = isProbe,
        };
        Count++;
    }

    /// <summary>Logs a packet that needs no acknowledgement (so numbers stay consecutive) and trims it if it is the oldest.</summary>
    public void AddSettled(long number)
    {
        if (Count == 0)
        {
            return; // nothing older to keep in step with: the next packet starts the log
        }

        Add(number, 0, 0, _itemTail, isProbe: false);
        At(Count - 1).Outcome = 1;
    }

    /// <summary>Drops settled packets (and their items) from the front.</summary>
    public void TrimSettled()
    {
        while (Count > 0 && _packets[_head].Outcome != 0)
        {
            ref SentPacket front = ref _packets[_head];
            long itemEnd = front.ItemStart + front.ItemCount;
            for (long i = _itemHead; i < itemEnd; i++)
            {
                _items[i & (_items.Length - 1)].Message = null; // let pooled messages be the only holders
            }

            _itemHead = Math.Max(_itemHead, itemEnd);
            _head = (_head + 1) & (_packets.Length - 1);
            Count--;
        }

        if (Count == 0)
        {
            _head = 0;
        }
    }

    public void Clear()
    {
        Array.Clear(_items);
        Count = 0;
        _head = 0;
        _itemHead = _itemTail;
    }

    /// <summary>Clears and lets the arrays go (the session ended).</summary>
    public void Release()
    {
        Clear();
        _packets = [];
        _items = [];
    }

    private void GrowPackets()
    {
        var bigger = new SentPacket[Math.Max(InitialPackets, _packets.Length * 2)];
        for (int i = 0; i < Count; i++)
        {
            bigger[i] = At(i);
        }

        _packets = bigger;
        _head = 0;
    }

    private void GrowItems()
    {
        var bigger = new SentItem[Math.Max(InitialItems, _items.Length * 2)];
        for (long i = _itemHead; i < _itemTail; i++)
        {
            bigger[i & (bigger.Length - 1)] = _items[i & (_items.Length - 1)];
        }

        _items = bigger;
    }
}
