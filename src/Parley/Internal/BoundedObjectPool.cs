namespace Parley.Internal;

/// <summary>
/// A capped pool of reusable objects (frames, pipe segment owners). Renting and returning
/// allocate nothing (unlike a ConcurrentQueue, whose segments become garbage once drained),
/// take no lock shared by all threads (one stack per core: <see cref="PerCoreStack{T}"/>), and
/// cost the same whatever the capacity, so the cap can cover thousands of objects in flight (a
/// frame per connection of a busy server). Objects beyond the capacity are left to the GC.
/// </summary>
internal sealed class BoundedObjectPool<T>(int capacity)
    where T : class
{
    private readonly PerCoreStack<T> _items = new(capacity);

    public T? TryRent() => _items.TryPop();

    public void Return(T item) => _items.TryPush(item);
}
