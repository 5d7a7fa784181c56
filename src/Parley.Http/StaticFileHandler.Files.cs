using Microsoft.Win32.SafeHandles;

namespace Parley.Http;

public sealed partial class StaticFileHandler
{
    // Bounds the cache's entries (each a few hundred bytes beside its content), whatever the
    // number of files under the root.
    private const int MaxEntries = 65_536;

    // What the cache may spend on entries beyond MaxCacheSize's content: keys and bookkeeping.
    private const long MaxKeyBytes = 16L * 1024 * 1024;

    private FileEntry? Find(ReadOnlySpan<char> path)
    {
        long now = _options.TimeProvider.GetTimestamp();
        if (_lookup.TryGetValue(path, out FileEntry? entry))
        {
            if (now - entry.CheckedAt < _revalidateTicks)
            {
                return entry;
            }

            if (IsCurrent(entry))
            {
                entry.CheckedAt = now;
                return entry;
            }

            string stale = path.ToString();
            if (_cache.TryRemove(new KeyValuePair<string, FileEntry>(stale, entry)))
            {
                Interlocked.Add(ref _cachedBytes, -entry.Cost(stale));
            }
        }

        string key = path.ToString();
        entry = Load(key, now);
        if (entry is null)
        {
            return null;
        }

        // Bounded by bytes (content, keys and all: a link loop inside the root makes endless
        // distinct paths to one file) and by count; past either, files are served uncached.
        long cost = entry.Cost(key);
        if (_cache.Count < MaxEntries && Volatile.Read(ref _cachedBytes) + cost <= _options.MaxCacheSize + MaxKeyBytes && _cache.TryAdd(key, entry))
        {
            Interlocked.Add(ref _cachedBytes, cost);
        }

        return entry;
    }

    // The file as the disk has it now: the requested path still leads to the same file and the
    // same siblings, each with the same length and modification time.
    private bool IsCurrent(FileEntry entry) =>
        ResolveInside(entry.Requested) == entry.File
        && SiblingCurrent(entry.Requested + ".br", entry.Brotli)
        && SiblingCurrent(entry.Requested + ".gz", entry.Gzip)
        && Matches(entry.Identity);

    private bool SiblingCurrent(string requested, Representation? known)
    {
        if (!_options.Precompressed)
        {
            return true;
        }

        string? now = ResolveInside(requested);
        return known is null ? now is null : now == known.Path && Matches(known);
    }

    private static bool Matches(Representation representation)
    {
        var info = new FileInfo(representation.Path);
        return info.Exists && info.Length == representation.Length && info.LastWriteTimeUtc == representation.LastWriteUtc;
    }

    private FileEntry? Load(string path, long now)
    {
        string requested = Path.Join(_root, path.TrimStart('/'));
        if (path.EndsWith('/'))
        {
            requested = Path.Join(requested, _options.IndexFile);
        }

        string? file = ResolveInside(requested);
        if (file is null || Directory.Exists(file))
        {
            return null;
        }

        string contentType = ContentTypes.For(requested);
        string? brotliFile = _options.Precompressed ? ResolveInside(requested + ".br") : null;
        string? gzipFile = _options.Precompressed ? ResolveInside(requested + ".gz") : null;
        bool vary = brotliFile is not null || gzipFile is not null;
        Representation? identity = Describe(file, contentType, null, vary);
        if (identity is null)
        {
            return null;
        }

        return new FileEntry(
            requested,
            file,
            now,
            identity,
            brotliFile is null ? null : Describe(brotliFile, contentType, "br", vary),
            gzipFile is null ? null : Describe(gzipFile, contentType, "gzip", vary));
    }

    private Representation? Describe(string file, string contentType, string? encoding, bool vary)
    {
        // Opened (never blocking, regular files only) even when it will not be cached: a FIFO or
        // a device is not served at all.
        using SafeFileHandle? handle = RegularFile.TryOpen(file);
        if (handle is null)
        {
            return null;
        }

        var info = new FileInfo(file);
        long length = RandomAccess.GetLength(handle);
        byte[]? body = null;
        if (length <= _options.MaxCachedFileSize && Volatile.Read(ref _cachedBytes) + length <= _options.MaxCacheSize)
        {
            body = new byte[length];
            try
            {
                int read = 0;
                while (read < body.Length)
                {
                    int n = RandomAccess.Read(handle, body.AsSpan(read), read);
                    if (n == 0)
                    {
                        return null; // shrank while read: found again on the next request
                    }

                    read += n;
                }
            }
            catch (IOException)
            {
                return null;
            }

            info.Refresh();
            if (!info.Exists || info.Length != length)
            {
                body = null; // changed while read: serve it from disk this time
            }
        }

        return Representation.Create(file, contentType, encoding, vary, length, info.LastWriteTimeUtc, body);
    }

    /// <summary>The real path of <paramref name="path"/> when it exists and lies inside the root
    /// after every symbolic link is followed; null otherwise.</summary>
    private string? ResolveInside(string path)
    {
        string? real = RealPath.Resolve(path);
        return real is not null && (real == _root || real.StartsWith(_rootPrefix, StringComparison.Ordinal)) ? real : null;
    }

    private bool IsFolderWithoutSlash(ReadOnlySpan<char> path) =>
        !path.EndsWith('/') && ResolveInside(Path.Join(_root, path.TrimStart('/').ToString())) is { } real && Directory.Exists(real);
}
