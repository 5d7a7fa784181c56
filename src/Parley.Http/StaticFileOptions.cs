namespace Parley.Http;

/// <summary>Settings of a <see cref="StaticFileHandler"/>.</summary>
public sealed class StaticFileOptions
{
    /// <summary>The folder served. Required; it must exist. Nothing outside it is served, also
    /// not through a symbolic link that leads out.</summary>
    public string Root { get; set; } = "";

    /// <summary>The file a folder's URL (ending in <c>/</c>) serves. Default <c>index.html</c>.</summary>
    public string IndexFile { get; set; } = "index.html";

    /// <summary>Files up to this size are kept in memory with their response head encoded;
    /// larger ones are sent from the file (<c>sendfile</c>) on each request. Default 64 KiB.</summary>
    public int MaxCachedFileSize { get; set; } = 64 * 1024;

    /// <summary>Most bytes of file content kept in memory; past it, files are served from disk.
    /// Default 64 MiB.</summary>
    public long MaxCacheSize { get; set; } = 64L * 1024 * 1024;

    /// <summary>Serve <c>name.br</c> / <c>name.gz</c> beside <c>name</c> to clients that accept
    /// them (<c>Content-Encoding</c>, <c>Vary: Accept-Encoding</c>). Default true.</summary>
    public bool Precompressed { get; set; } = true;

    /// <summary>How often a cached file is checked against the disk (size and modification
    /// time) when it is asked for. Default 1 s.</summary>
    public TimeSpan RevalidateInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Also watch the folder (inotify) and drop the cache at once when anything in it
    /// changes, rather than within <see cref="RevalidateInterval"/>. Default true.</summary>
    public bool WatchForChanges { get; set; } = true;

    /// <summary>The clock for revalidation. Default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;
}
