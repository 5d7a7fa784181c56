using System.IO.MemoryMappedFiles;

namespace Parley.Ipc;

/// <summary>
/// One connection's memory-mapped region (layout in <see cref="RegionLayout"/>): a file in
/// <c>/dev/shm</c> created by the server, mapped by both sides, unlinked once the client has
/// mapped it (the memory lives until the last mapping goes).
/// </summary>
internal sealed unsafe class SharedRegion : IDisposable
{
    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private int _disposed;

    private SharedRegion(MemoryMappedFile file, MemoryMappedViewAccessor view, int capacity)
    {
        _file = file;
        _view = view;
        Capacity = capacity;
        byte* pointer = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        Base = pointer + view.PointerOffset;
    }

    public byte* Base { get; }

    public int Capacity { get; }

    /// <summary>Creates and maps a new region file (owner-only permissions) and writes its header.</summary>
    public static SharedRegion Create(string path, int capacity)
    {
        long size = RegionLayout.RegionSize(capacity);
        var fileOptions = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.ReadWrite, Share = FileShare.ReadWrite };
        if (!OperatingSystem.IsWindows())
        {
            fileOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite; // only this user may map it
        }

#pragma warning disable CA2000 // The stream is owned by the mapping (leaveOpen: false), or disposed on failure below.
        var stream = new FileStream(path, fileOptions);
#pragma warning restore CA2000
        SharedRegion region;
        try
        {
            stream.SetLength(size); // a tmpfs file reads as zeros: the rings start empty
            region = Map(stream, size, capacity);
        }
        catch
        {
            stream.Dispose();
            File.Delete(path);
            throw;
        }

        byte* b = region.Base;
        *(int*)(b + RegionLayout.VersionOffset) = RegionLayout.Version;
        *(int*)(b + RegionLayout.CapacityOffset) = capacity;
        *(int*)(b + RegionLayout.ServerPidOffset) = Environment.ProcessId;
        Volatile.Write(ref *(ulong*)(b + RegionLayout.MagicOffset), RegionLayout.Magic);
        return region;
    }

    /// <summary>Maps an existing region and checks that it is what the server announced.</summary>
    public static SharedRegion Open(string path, int capacity)
    {
        Ring.ValidateCapacity(capacity);
        long size = RegionLayout.RegionSize(capacity);
#pragma warning disable CA2000 // The stream is owned by the mapping (leaveOpen: false), or disposed on failure below.
        var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
#pragma warning restore CA2000
        if (stream.Length != size)
        {
            stream.Dispose();
            throw new IpcException($"The shared region {path} has {stream.Length} bytes, expected {size}.");
        }

        SharedRegion region;
        try
        {
            region = Map(stream, size, capacity);
        }
        catch
        {
            stream.Dispose();
            throw;
        }

        byte* b = region.Base;
        if (Volatile.Read(ref *(ulong*)(b + RegionLayout.MagicOffset)) != RegionLayout.Magic
            || *(int*)(b + RegionLayout.VersionOffset) != RegionLayout.Version
            || *(int*)(b + RegionLayout.CapacityOffset) != capacity)
        {
            region.Dispose();
            throw new IpcException($"The shared region {path} is not a Parley IPC region of version {RegionLayout.Version}.");
        }

        *(int*)(b + RegionLayout.ClientPidOffset) = Environment.ProcessId;
        return region;
    }

    private static SharedRegion Map(FileStream stream, long size, int capacity)
    {
        var file = MemoryMappedFile.CreateFromFile(stream, null, size, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: false);
        try
        {
            return new SharedRegion(file, file.CreateViewAccessor(0, size, MemoryMappedFileAccess.ReadWrite), capacity);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public int* SideWord(int side, int offset) => (int*)(Base + RegionLayout.SideOffset(side) + offset);

    public ulong* Tail(int ring) => (ulong*)(Base + RegionLayout.TailOffset(ring));

    public byte* RingData(int ring) => Base + RegionLayout.RingDataOffset(ring, Capacity);

    /// <summary>Sets a side's Closed flag: its peer then reads "closed on purpose", not "died".</summary>
    public void MarkClosed(int side) => Volatile.Write(ref *SideWord(side, RegionLayout.ClosedOffset), 1);

    public int Pid(int side) => *(int*)(Base + (side == 0 ? RegionLayout.ServerPidOffset : RegionLayout.ClientPidOffset));

    /// <summary>Unmaps. The caller guarantees no thread still uses <see cref="Base"/>.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
    }

    /// <summary>The whole region as bytes (tests corrupt it on purpose).</summary>
    internal Span<byte> AsSpan() => new(Base, (int)RegionLayout.RegionSize(Capacity));
}
