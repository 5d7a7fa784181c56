using System.Runtime.InteropServices;

namespace Parley.Http;

/// <summary>A path with every symbolic link resolved (<c>realpath</c>): what a file really is,
/// to check that it lies inside the served root.</summary>
internal static partial class RealPath
{
    /// <summary>The resolved path, or null when it does not exist or cannot be resolved.</summary>
    public static string? Resolve(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return ResolveByWalking(path);
        }

        nint resolved = NativeRealPath(path, 0);
        if (resolved == 0)
        {
            return null;
        }

        try
        {
            return Marshal.PtrToStringUTF8(resolved);
        }
        finally
        {
            Free(resolved);
        }
    }

    // Windows has no realpath: resolve the final target, and refuse a path with a link in a
    // parent folder rather than guess where it leads.
    private static string? ResolveByWalking(string path)
    {
        string full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full) && !Directory.Exists(full))
        {
            return null;
        }

        for (string? folder = System.IO.Path.GetDirectoryName(full); folder is not null; folder = System.IO.Path.GetDirectoryName(folder))
        {
            if (new DirectoryInfo(folder).LinkTarget is not null)
            {
                return null;
            }
        }

        FileSystemInfo info = File.Exists(full) ? new FileInfo(full) : new DirectoryInfo(full);
        return info.LinkTarget is null ? full : info.ResolveLinkTarget(returnFinalTarget: true)?.FullName;
    }

    [LibraryImport("libc", EntryPoint = "realpath", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint NativeRealPath(string path, nint resolved);

    [LibraryImport("libc", EntryPoint = "free")]
    private static partial void Free(nint pointer);
}
