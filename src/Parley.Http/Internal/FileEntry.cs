using System.Globalization;
using Microsoft.Win32.SafeHandles;
using System.Text;

namespace Parley.Http;

/// <summary>A served path, resolved: the file it is, and its representations (identity and
/// any precompressed sibling), each with its response header lines encoded once.</summary>
internal sealed class FileEntry
{
    public FileEntry(string requested, string file, long checkedAt, Representation identity, Representation? brotli, Representation? gzip)
    {
        Requested = requested;
        File = file;
        CheckedAt = checkedAt;
        Identity = identity;
        Brotli = brotli;
        Gzip = gzip;
    }

    /// <summary>The path asked for under the root, before links are followed: checked again on
    /// revalidation, so a link switched to another target is noticed.</summary>
    public string Requested { get; }

    /// <summary>What the entry costs the cache: its content, its key and its bookkeeping.</summary>
    public long Cost(string key) => CachedBytes + (2L * (key.Length + Requested.Length + File.Length)) + 512;

    /// <summary>The file's resolved path.</summary>
    public string File { get; }

    /// <summary>When it was last compared with the disk (a timestamp of the handler's clock).</summary>
    public long CheckedAt { get; set; }

    public Representation Identity { get; }

    public Representation? Brotli { get; }

    public Representation? Gzip { get; }

    public long CachedBytes => (Identity.Body?.Length ?? 0) + (Brotli?.Body?.Length ?? 0) + (Gzip?.Body?.Length ?? 0);

    public bool HasVariants => Brotli is not null || Gzip is not null;
}

/// <summary>One representation of a file: its bytes (when cached) or its path, its validators
/// and its header lines.</summary>
internal sealed class Representation
{
    private SafeFileHandle? _handle;

    private Representation(string path, long length, DateTime lastWriteUtc, byte[]? body, byte[] etag, byte[] headerLines)
    {
        Path = path;
        Length = length;
        LastWriteUtc = lastWriteUtc;
        LastModified = new DateTime(lastWriteUtc.Ticks - (lastWriteUtc.Ticks % TimeSpan.TicksPerSecond), DateTimeKind.Utc);
        Body = body;
        ETag = etag;
        HeaderLines = headerLines;
    }

    public string Path { get; }

    public long Length { get; }

    /// <summary>The modification time to the tick, to notice a change.</summary>
    public DateTime LastWriteUtc { get; }

    /// <summary>The modification time to the second, as Last-Modified says it.</summary>
    public DateTime LastModified { get; }

    public byte[]? Body { get; }

    /// <summary>
    /// The open file, for a representation sent from disk: opened at the first request and kept,
    /// so a request costs a <c>sendfile</c> and no open or close. Never disposed here: when the
    /// representation is replaced (the file changed) the handle is closed by its finalizer once
    /// no send still holds it — a send in flight keeps it reachable.
    /// </summary>
    public SafeFileHandle? OpenHandle()
    {
        SafeFileHandle? handle = Volatile.Read(ref _handle);
        if (handle is not null)
        {
            return handle;
        }

#pragma warning disable CA2000 // kept for the representation's life (see above); a lost race disposes its own
        handle = RegularFile.TryOpen(Path);
#pragma warning restore CA2000
        if (handle is null)
        {
            return null;
        }

        SafeFileHandle? raced = Interlocked.CompareExchange(ref _handle, handle, null);
        if (raced is not null)
        {
            handle.Dispose();
            return raced;
        }

        return handle;
    }

    public byte[] ETag { get; }

    /// <summary>Content-Type, Last-Modified, ETag, Accept-Ranges, and for a file with variants Vary (and Content-Encoding).</summary>
    public byte[] HeaderLines { get; }

    public static Representation Create(string path, string contentType, string? encoding, bool vary, long length, DateTime lastWriteUtc, byte[]? body)
    {
        string suffix = encoding is null ? "" : "-" + encoding;
        string etag = string.Create(CultureInfo.InvariantCulture, $"\"{lastWriteUtc.Ticks:x}-{length:x}{suffix}\"");
        var lines = new StringBuilder();
        lines.Append("Content-Type: ").Append(contentType).Append("\r\n");
        if (encoding is not null)
        {
            lines.Append("Content-Encoding: ").Append(encoding).Append("\r\n");
        }

        if (vary)
        {
            lines.Append("Vary: Accept-Encoding\r\n");
        }

        lines.Append("Last-Modified: ").Append(lastWriteUtc.ToString("R", CultureInfo.InvariantCulture)).Append("\r\n");
        lines.Append("ETag: ").Append(etag).Append("\r\n");
        lines.Append("Accept-Ranges: bytes\r\n");
        return new Representation(path, length, lastWriteUtc, body, Encoding.ASCII.GetBytes(etag), Encoding.ASCII.GetBytes(lines.ToString()));
    }
}
