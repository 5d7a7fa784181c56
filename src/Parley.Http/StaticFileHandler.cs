using System.Collections.Concurrent;
using Microsoft.Win32.SafeHandles;

namespace Parley.Http;

/// <summary>
/// Serves the files of a folder: GET and HEAD (405 with <c>Allow</c> for anything else), the
/// index file for a folder's URL (and a 301 to add the slash), <c>Content-Type</c> by
/// extension, <c>Last-Modified</c>/<c>ETag</c> with <c>If-None-Match</c>/<c>If-Modified-Since</c>
/// → 304, one <c>Range</c> → 206 or 416 (with <c>If-Range</c>), and precompressed <c>.br</c> /
/// <c>.gz</c> siblings by <c>Accept-Encoding</c>. Small files are kept in memory with their
/// header lines encoded, checked against the disk at most once per
/// <see cref="StaticFileOptions.RevalidateInterval"/> and dropped at once when the folder
/// changes; larger ones go from the file with <c>sendfile</c>, never loaded whole.
/// </summary>
/// <remarks>Thread-safe: one handler serves every connection.</remarks>
public sealed partial class StaticFileHandler : HttpHandler, IDisposable
{
    private readonly StaticFileOptions _options;
    private readonly string _root;
    private readonly string _rootPrefix;
    private readonly ConcurrentDictionary<string, FileEntry> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, FileEntry>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly long _revalidateTicks;
    private readonly FileSystemWatcher? _watcher;
    private long _cachedBytes;

    /// <summary>Creates a handler for <see cref="StaticFileOptions.Root"/>.</summary>
    public StaticFileHandler(StaticFileOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.Root);
        ArgumentException.ThrowIfNullOrEmpty(options.IndexFile);
        ArgumentOutOfRangeException.ThrowIfNegative(options.MaxCachedFileSize);
        ArgumentOutOfRangeException.ThrowIfNegative(options.MaxCacheSize);
        if (options.IndexFile.Contains('/', StringComparison.Ordinal) || options.IndexFile.Contains('\\', StringComparison.Ordinal))
        {
            throw new ArgumentException("The index file is a file name, not a path.", nameof(options));
        }

        _options = options;
        _root = RealPath.Resolve(options.Root) is { } root && Directory.Exists(root)
            ? root
            : throw new DirectoryNotFoundException($"The folder to serve does not exist: {options.Root}");
        _rootPrefix = Path.EndsInDirectorySeparator(_root) ? _root : _root + Path.DirectorySeparatorChar;
        _lookup = _cache.GetAlternateLookup<ReadOnlySpan<char>>();
        _revalidateTicks = (long)(options.RevalidateInterval.TotalSeconds * options.TimeProvider.TimestampFrequency);
        if (options.WatchForChanges)
        {
            _watcher = new FileSystemWatcher(_root) { IncludeSubdirectories = true, NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size };
            _watcher.Changed += (_, _) => Clear();
            _watcher.Created += (_, _) => Clear();
            _watcher.Deleted += (_, _) => Clear();
            _watcher.Renamed += (_, _) => Clear();
            _watcher.Error += (_, _) => Clear();
            _watcher.EnableRaisingEvents = true;
        }
    }

    /// <summary>The folder served, every link resolved.</summary>
    public string Root => _root;

    /// <summary>Bytes of file content held in memory now.</summary>
    public long CachedBytes => Volatile.Read(ref _cachedBytes);

    /// <inheritdoc />
    public override ValueTask<bool> HandleAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        HttpRequestHead request = context.Request;
        HttpResponse response = context.Response;
        if (request.Method is not (HttpRequestMethod.Get or HttpRequestMethod.Head))
        {
            WriteText(response, 405, "405 Method Not Allowed: this server serves files (GET, HEAD).\n"u8, allow: true);
            return new ValueTask<bool>(true);
        }

        FileEntry? entry = Find(context.Path);
        if (entry is null)
        {
            if (IsFolderWithoutSlash(context.Path))
            {
                Redirect(context);
            }
            else
            {
                WriteText(response, 404, "404 Not Found\n"u8, allow: false);
            }

            return new ValueTask<bool>(true);
        }

        Representation chosen = Choose(entry, request);
        return Answer(context, chosen, _options.TimeProvider);
    }

    /// <summary>Stops watching the folder.</summary>
    public void Dispose() => _watcher?.Dispose();

    /// <summary>Forgets every cached file (they are read again when asked for).</summary>
    public void Clear()
    {
        // Entry by entry, so the byte count stays exact while requests add entries meanwhile.
        foreach (KeyValuePair<string, FileEntry> pair in _cache)
        {
            if (_cache.TryRemove(pair))
            {
                Interlocked.Add(ref _cachedBytes, -pair.Value.Cost(pair.Key));
            }
        }
    }

    private static ValueTask<bool> Answer(HttpContext context, Representation chosen, TimeProvider time)
    {
        HttpRequestHead request = context.Request;
        HttpResponse response = context.Response;

        // RFC 9110 §13.2.2's order: If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since.
        if ((!request.IfMatch.IsEmpty && !Preconditions.MatchHits(request.IfMatch, chosen.ETag))
            || (request.IfMatch.IsEmpty && !request.IfUnmodifiedSince.IsEmpty && Preconditions.ModifiedSince(request.IfUnmodifiedSince, chosen.LastModified)))
        {
            response.StartHead(412);
            response.AddEncodedHeaders(chosen.HeaderLines);
            response.EndHead(0);
            return new ValueTask<bool>(true);
        }

        bool notModified = !request.IfNoneMatch.IsEmpty
            ? Preconditions.NoneMatchHits(request, chosen.ETag)
            : !request.IfModifiedSince.IsEmpty && Preconditions.NotModifiedSince(request.IfModifiedSince, chosen.LastModified, time.GetUtcNow().UtcDateTime);
        if (notModified)
        {
            response.StartHead(304);
            response.AddEncodedHeaders(chosen.HeaderLines);
            response.EndHead(0);
            return new ValueTask<bool>(true);
        }

        long start = 0;
        long count = chosen.Length;
        int status = 200;
        if (request.Method == HttpRequestMethod.Get && !request.Range.IsEmpty
            && Preconditions.RangeStillValid(request.IfRange, chosen.ETag, chosen.LastModified))
        {
            switch (Preconditions.ParseRange(request.Range, chosen.Length, out long rangeStart, out long rangeCount))
            {
                case RangeResult.Partial:
                    status = 206;
                    start = rangeStart;
                    count = rangeCount;
                    break;
                case RangeResult.Unsatisfiable:
                    response.StartHead(416);
                    WriteContentRange(response, -1, 0, chosen.Length);
                    response.AddEncodedHeaders(chosen.HeaderLines);
                    response.EndHead(0);
                    return new ValueTask<bool>(true);
            }
        }

        response.StartHead(status);
        response.AddEncodedHeaders(chosen.HeaderLines);
        if (status == 206)
        {
            WriteContentRange(response, start, count, chosen.Length);
        }

        response.EndHead(count);
        if (chosen.Body is { } body)
        {
            response.WriteBody(body.AsSpan((int)start, (int)count));
            return new ValueTask<bool>(true);
        }

        return SendFromDiskAsync(response, chosen, start, count);
    }

    private static async ValueTask<bool> SendFromDiskAsync(HttpResponse response, Representation chosen, long start, long count)
    {
        if (response.ClosesConnection && count == 0)
        {
            return true;
        }

#pragma warning disable CA2000 // the representation owns the handle; a request only borrows it
        SafeFileHandle file = chosen.OpenHandle()
            ?? throw new InvalidOperationException($"The file {chosen.Path} could not be opened."); // the head is out: only closing can say it
#pragma warning restore CA2000
        await response.SendFileAsync(file, start, count).ConfigureAwait(false);
        return true;
    }

    private static Representation Choose(FileEntry entry, HttpRequestHead request)
    {
        if (!entry.HasVariants)
        {
            return entry.Identity;
        }

        if (request.AcceptEncoding.IsEmpty)
        {
            return entry.Identity;
        }

        return Preconditions.ChooseCoding(request, entry.Brotli is not null, entry.Gzip is not null) switch
        {
            1 => entry.Brotli!,
            2 => entry.Gzip!,
            _ => entry.Identity,
        };
    }

    private static void WriteContentRange(HttpResponse response, long start, long count, long length)
    {
        Span<byte> value = stackalloc byte[64];
        int written;
        bool ok = start < 0
            ? System.Text.Unicode.Utf8.TryWrite(value, System.Globalization.CultureInfo.InvariantCulture, $"bytes */{length}", out written)
            : System.Text.Unicode.Utf8.TryWrite(value, System.Globalization.CultureInfo.InvariantCulture, $"bytes {start}-{start + count - 1}/{length}", out written);
        if (ok)
        {
            response.AddHeader("Content-Range"u8, value[..written]);
        }
    }

    private static void WriteText(HttpResponse response, int status, ReadOnlySpan<byte> text, bool allow)
    {
        response.StartHead(status);
        if (allow)
        {
            response.AddEncodedHeaders("Allow: GET, HEAD\r\n"u8);
        }

        response.AddEncodedHeaders("Content-Type: text/plain; charset=utf-8\r\n"u8);
        response.EndHead(text.Length);
        response.WriteBody(text);
    }

    // A folder asked for without its slash: 301 to the same path with it (and the query kept),
    // so relative links inside its index resolve.
    private static void Redirect(HttpContext context)
    {
        // The normalized path (one leading slash: never "//host"), percent-encoded again.
        HttpRequestHead request = context.Request;
        ReadOnlySpan<byte> query = request.Query;
        var location = new System.Text.StringBuilder(context.Path.Length + 16);
        Span<byte> utf8 = stackalloc byte[4];
        foreach (System.Text.Rune rune in context.Path.EnumerateRunes())
        {
            int length = rune.EncodeToUtf8(utf8);
            for (int i = 0; i < length; i++)
            {
                byte b = utf8[i];
                if (b < 0x80 && (char.IsAsciiLetterOrDigit((char)b) || "/-._~!$&'()*+,;=:@".Contains((char)b, StringComparison.Ordinal)))
                {
                    location.Append((char)b);
                }
                else
                {
                    location.Append('%').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
                }
            }
        }

        location.Append('/');
        if (!query.IsEmpty)
        {
            location.Append('?').Append(System.Text.Encoding.ASCII.GetString(query));
        }

        HttpResponse response = context.Response;
        response.StartHead(301);
        response.AddHeader("Location"u8, System.Text.Encoding.ASCII.GetBytes(location.ToString()));
        response.AddEncodedHeaders("Content-Type: text/plain; charset=utf-8\r\n"u8);
        ReadOnlySpan<byte> text = "301 Moved Permanently\n"u8;
        response.EndHead(text.Length);
        response.WriteBody(text);
    }
}
