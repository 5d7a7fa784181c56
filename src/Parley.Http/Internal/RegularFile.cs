using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Parley.Http;

/// <summary>
/// Opens a file to serve it only when it is a regular file, without ever blocking in
/// <c>open</c>: a FIFO's open waits for a writer, and one such request would hold a thread (and
/// with enough of them, the server) indefinitely; a device is not content. On Linux the file is
/// first opened non-blocking, its type read with <c>statx</c> (whose layout is the same on every
/// architecture), and the handle served is reopened through <c>/proc/self/fd</c> — the same
/// inode, so nothing can be swapped in between.
/// </summary>
internal static partial class RegularFile
{
    private const int ReadOnly = 0;
    private const int NonBlocking = 0x800;
    private const int CloseOnExec = 0x80000;
    private const int EmptyPath = 0x1000;    // AT_EMPTY_PATH
    private const uint TypeMask = 0x1;       // STATX_TYPE
    private const int ModeOffset = 28;       // struct statx.stx_mode (u16)
    private const int FileTypeBits = 0xF000; // S_IFMT
    private const int Regular = 0x8000;      // S_IFREG

    /// <summary>A handle open for reading (asynchronous, so a socket can <c>sendfile</c> from
    /// it), or null when the path is missing, unreadable or not a regular file.</summary>
    public static SafeFileHandle? TryOpen(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            // Elsewhere the type is not checked before opening (documented in docs/security.md).
            return TryOpenManaged(path);
        }

        int descriptor = Open(path, ReadOnly | NonBlocking | CloseOnExec);
        if (descriptor < 0)
        {
            return null;
        }

        try
        {
            Span<byte> status = stackalloc byte[256];
            if (StatX(descriptor, "", EmptyPath, TypeMask, ref MemoryMarshal.GetReference(status)) != 0
                || (BitConverter.ToUInt16(status[ModeOffset..]) & FileTypeBits) != Regular)
            {
                return null;
            }

            return TryOpenManaged(string.Create(CultureInfo.InvariantCulture, $"/proc/self/fd/{descriptor}"));
        }
        finally
        {
            _ = Close(descriptor);
        }
    }

    private static SafeFileHandle? TryOpenManaged(string path)
    {
        try
        {
            return File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.Asynchronous);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int StatX(int directory, string path, int flags, uint mask, ref byte buffer);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int descriptor);
}
