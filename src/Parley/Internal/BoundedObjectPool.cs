namespace Parley.Internal;

/// <summary>
/// A small lock-free pool of reusable objects: a fast slot plus a fixed array scanned with
/// compare-exchange (the shape of Microsoft.Extensions.ObjectPool's default pool). Renting
/// and returning allocate nothing, unlike a ConcurrentQueue, whose segments are garbage once
/// drained. Objects beyond the capacity are left to the GC.
/// </summary>
internal sealed class BoundedObjectPool<T>
    where T : class
{
    private readonly T?[] _items;
    private T? _fast;

    public BoundedObjectPool(int capacity) => _items = new T?[capacity];

    public T? TryRent()
    {
        T? item = _fast;
        if (item is not null && Interlocked.CompareExchange(ref _fast, null, item) == item)
        {
            return item;
        }

        T?[] items = _items;
        for (int i = 0; i < items.Length; i++)
        {
            item = items[i];
            if (item is not null && Interlocked.CompareExchange(ref items[i], null, item) == item)
            {
                return item;
            }
        }

        return null;
    }

    public void Return(T item)
    {
        if (_fast is null && Interlocked.CompareExchange(ref _fast, item, null) is null)
        {
            return;
        }

        T?[] items = _items;
        for (int i = 0; i < items.Length; i++)
        {
            if (items[i] is null && Interlocked.CompareExchange(ref items[i], item, null) is null)
            {
                return;
            }
        }
    }
}
