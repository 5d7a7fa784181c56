namespace Parley.Internal;

/// <summary>
/// A capped pool of reusable objects striped by processor: one small stack per core, each
/// under its own lock held for one push or pop. A rent or return takes the stack of the core
/// it runs on, so threads on different cores do not contend (as <c>ArrayPool.Shared</c>'s
/// per-core stacks); a rent that finds its stack empty takes from the others before giving
/// up, and a return that finds its stack full gives to another, so the whole capacity serves
/// bursts that are rented on one core and returned on another (a receive loop and a send loop).
/// Objects beyond the capacity are left to the GC. Renting and returning allocate nothing.
/// </summary>
/// <remarks>Compiled into each assembly that needs it from src/Shared (internal; not API).</remarks>
internal sealed class PerCoreStack<T>
    where T : class
{
    private readonly Stripe[] _stripes;

    private readonly Lock _resizing = new();

    /// <param name="capacity">Objects kept at most, over all cores together (see <see cref="SetCapacity"/>).</param>
    public PerCoreStack(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        int stripes = Math.Clamp(Environment.ProcessorCount, 1, 64);
        stripes = Math.Min(stripes, capacity);
        _stripes = new Stripe[stripes];
        for (int i = 0; i < stripes; i++)
        {
            _stripes[i] = new Stripe(Share(capacity, stripes, i));
        }
    }

    /// <summary>
    /// Changes how many objects are kept at most, over all cores together. A larger capacity
    /// grows a stripe's storage only as objects come back to it (so it costs nothing until used);
    /// a smaller one lets go of what is over it at once.
    /// </summary>
    public void SetCapacity(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        lock (_resizing)
        {
            for (int i = 0; i < _stripes.Length; i++)
            {
                _stripes[i].SetCapacity(Share(capacity, _stripes.Length, i));
            }
        }
    }

    // Stripe i's share of a total: equal parts, the first stripes taking the remainder.
    private static int Share(int total, int stripes, int i) => (total / stripes) + (i < total % stripes ? 1 : 0);

    /// <summary>Objects kept now (a snapshot).</summary>
    public int Count
    {
        get
        {
            int count = 0;
            foreach (Stripe stripe in _stripes)
            {
                count += stripe.Count;
            }

            return count;
        }
    }

    public T? TryPop()
    {
        Stripe[] stripes = _stripes;
        int start = Home(stripes.Length);
        for (int i = 0; i < stripes.Length; i++)
        {
            int index = start + i;
            if (index >= stripes.Length)
            {
                index -= stripes.Length;
            }

            if (stripes[index].TryPop() is { } item)
            {
                return item;
            }
        }

        return null;
    }

    /// <summary>Keeps <paramref name="item"/>; false when every stripe is full (the caller drops it).</summary>
    public bool TryPush(T item)
    {
        Stripe[] stripes = _stripes;
        int start = Home(stripes.Length);
        for (int i = 0; i < stripes.Length; i++)
        {
            int index = start + i;
            if (index >= stripes.Length)
            {
                index -= stripes.Length;
            }

            if (stripes[index].TryPush(item))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Lets go of all but <paramref name="keep"/> objects; returns how many were let go.</summary>
    public int Trim(int keep)
    {
        int released = 0;
        foreach (Stripe stripe in _stripes)
        {
            released += stripe.Trim(ref keep);
        }

        return released;
    }

    private static int Home(int stripes) => stripes == 1 ? 0 : Thread.GetCurrentProcessorId() % stripes;

    private sealed class Stripe(int capacity)
    {
        private readonly Lock _lock = new();
        private T?[] _items = new T?[Math.Max(capacity, 0)];
        private int _capacity = capacity;
        private int _count;

        // Keeps the hot fields of neighbouring stripes off one cache line (each stripe is its
        // own object, allocated one after another).
#pragma warning disable CS0169, IDE0051 // padding only
        private readonly CacheLinePadding _padding;
#pragma warning restore CS0169, IDE0051

        public int Count => Volatile.Read(ref _count);

        public T? TryPop()
        {
            if (Volatile.Read(ref _count) == 0)
            {
                return null; // a cheap look first: an empty stripe is not worth its lock
            }

            lock (_lock)
            {
                if (_count == 0)
                {
                    return null;
                }

                T? item = _items[--_count];
                _items[_count] = null;
                return item;
            }
        }

        public bool TryPush(T item)
        {
            if (Volatile.Read(ref _count) >= Volatile.Read(ref _capacity))
            {
                return false;
            }

            lock (_lock)
            {
                if (_count >= _capacity)
                {
                    return false;
                }

                if (_count == _items.Length)
                {
                    // Grown capacity (SetCapacity): storage follows what actually comes back.
                    Array.Resize(ref _items, Math.Min(Math.Max(4, 2 * _items.Length), _capacity));
                }

                _items[_count++] = item;
                return true;
            }
        }

        public void SetCapacity(int capacity)
        {
            lock (_lock)
            {
                for (int i = capacity; i < _count; i++)
                {
                    _items[i] = null;
                }

                _count = Math.Min(_count, capacity);
                Volatile.Write(ref _capacity, capacity);
            }
        }

        public int Trim(ref int keep)
        {
            lock (_lock)
            {
                int kept = Math.Min(_count, keep);
                keep -= kept;
                int released = _count - kept;
                for (int i = kept; i < _count; i++)
                {
                    _items[i] = null;
                }

                _count = kept;
                return released;
            }
        }
    }
}

/// <summary>64 bytes of nothing, to keep neighbouring objects' hot fields off one cache line
/// (outside the generic type: a generic type cannot have an explicit layout).</summary>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Explicit, Size = 64)]
internal struct CacheLinePadding
{
}
