using System.Buffers;

namespace Parley.Internal;

/// <summary>
/// Adapts a <see cref="BufferPool"/> to the <see cref="MemoryPool{T}"/> that
/// <see cref="System.IO.Pipelines.Pipe"/> rents its segments from. The owner objects are
/// recycled too, so renting a receive segment allocates nothing in steady state.
/// </summary>
internal sealed class PipeMemoryPool : MemoryPool<byte>
{
    private readonly BoundedObjectPool<Owner> _owners = new(16_384);

    public PipeMemoryPool(BufferPool pool) => Pool = pool;

    public BufferPool Pool { get; }

    // The pipe asks for this size or a caller's larger hint; ArrayPool serves up to 1 GiB.
    public override int MaxBufferSize => 1024 * 1024 * 1024;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        Owner owner = _owners.TryRent() ?? new Owner(this);

        owner.Array = Pool.Rent(minBufferSize <= 0 ? 4096 : minBufferSize);
        return owner;
    }

    protected override void Dispose(bool disposing)
    {
        // Nothing to free: arrays go back to the BufferPool when each owner is disposed.
    }

    private void ReturnOwner(Owner owner) => _owners.Return(owner);

    private sealed class Owner(PipeMemoryPool parent) : IMemoryOwner<byte>
    {
        public byte[]? Array { get; set; }

        public Memory<byte> Memory => Array ?? throw new ObjectDisposedException(nameof(Owner));

        public void Dispose()
        {
            byte[]? array = Array;
            if (array is null)
            {
                return;
            }

            Array = null;
            parent.Pool.Return(array);
            parent.ReturnOwner(this);
        }
    }
}
