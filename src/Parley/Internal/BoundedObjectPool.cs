namespace Parley.Internal;

/// <summary>
/// A capped pool of reusable objects: a stack under a lock held for one push or pop. Renting
/// and returning allocate nothing (unlike a ConcurrentQueue, whose segments become garbage
/// once drained), and the cost does not grow with the capacity, so the cap can cover
/// thousands of objects in flight (a frame per connection of a busy server). Objects beyond
/// the capacity are left to the GC.
/// </summary>
internal sealed class BoundedObjectPool<T>
    where T : class
{
    private readonly Lock _lock = new();
    private readonly T?[] _items;
    private int _count;

    public BoundedObjectPool(int capacity) => _items = new T?[capacity];

    public T? TryRent()
    {
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

    public void Return(T item)
    {
        lock (_lock)
        {
            if (_count < _items.Length)
            {
                _items[_count++] = item;
            }
        }
    }
}
