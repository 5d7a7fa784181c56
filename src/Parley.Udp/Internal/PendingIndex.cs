namespace Parley.Udp;

/// <summary>
/// The reliable messages of a peer that are not final, found by id. Reliable ids are issued in
/// sequence, so a message lives in slot <c>id mod size</c> of a power-of-two array: a lookup is one
/// index and one compare, with no hashing and nothing allocated per message (a
/// <see cref="Dictionary{TKey,TValue}"/> cost a tenth of the per-message work here). The array
/// doubles when a new id's slot is still held by an older message (the pending ids span more than
/// it), up to <c>maxSlots</c>; past that, <see cref="TryAdd"/> refuses (the caller reports a full
/// queue), so memory follows the span of pending ids, not the configured limit. Not thread-safe:
/// the host's lock covers it.
/// </summary>
internal sealed class PendingIndex(int maxSlots)
{
    private const int InitialSlots = 64;
    private readonly int _maxSlots = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(InitialSlots, maxSlots));
    private OutgoingMessage?[] _slots = [];

    public int Count { get; private set; }

    /// <summary>False when the slot for the id still holds an older message and the array is at its largest.</summary>
    public bool TryAdd(OutgoingMessage message)
    {
        if (_slots.Length == 0)
        {
            _slots = new OutgoingMessage?[InitialSlots];
        }

        while (_slots[message.Id & (uint)(_slots.Length - 1)] is not null)
        {
            if (_slots.Length >= _maxSlots)
            {
                return false;
            }

            Grow();
        }

        _slots[message.Id & (uint)(_slots.Length - 1)] = message;
        Count++;
        return true;
    }

    /// <summary>The array's size: a run of ids at least this long touches every slot.</summary>
    public int SlotCount => _slots.Length;

    public OutgoingMessage? AtSlot(int slot) => _slots[slot];

    public OutgoingMessage? Find(uint id)
    {
        if (_slots.Length == 0)
        {
            return null;
        }

        OutgoingMessage? message = _slots[id & (uint)(_slots.Length - 1)];
        return message is not null && message.Id == id ? message : null;
    }

    public void Remove(OutgoingMessage message)
    {
        if (_slots.Length == 0)
        {
            return;
        }

        ref OutgoingMessage? slot = ref _slots[message.Id & (uint)(_slots.Length - 1)];
        if (ReferenceEquals(slot, message))
        {
            slot = null;
            Count--;
        }
    }

    /// <summary>Every pending message (in slot order, not id order).</summary>
    public List<OutgoingMessage> ToList()
    {
        var list = new List<OutgoingMessage>(Count);
        foreach (OutgoingMessage? message in _slots)
        {
            if (message is not null)
            {
                list.Add(message);
            }
        }

        return list;
    }

    /// <summary>Lets the slots go (the session ended; everything pending was finished first).</summary>
    public void Release()
    {
        _slots = [];
        Count = 0;
    }

    // Ids in distinct slots modulo a size are distinct modulo twice that size: doubling never collides.
    private void Grow()
    {
        OutgoingMessage?[] old = _slots;
        _slots = new OutgoingMessage?[old.Length * 2];
        foreach (OutgoingMessage? message in old)
        {
            if (message is not null)
            {
                _slots[message.Id & (uint)(_slots.Length - 1)] = message;
            }
        }
    }
}
