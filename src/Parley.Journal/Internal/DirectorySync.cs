using System.Runtime.InteropServices;

namespace Parley.Journal;

/// <summary>
/// fsync of a folder. A file's fsync makes its contents durable, not its name: after a new
/// segment is created (or an old one deleted) the folder itself must be synced, or a power cut
/// can lose the new file's entry with every record in it. .NET has no API for it (opening a
/// folder as a file is refused), so on Unix this opens the folder read-only through libc and
/// fsyncs the descriptor. Windows has no equivalent for a folder: NTFS logs its metadata
/// changes itself, and the journal does nothing more there (docs/architecture.md, "The journal").
/// </summary>
internal static partial class DirectorySync
{
    private const int ReadOnly = 0; // O_RDONLY is 0 on every Unix
    private const int Interrupted = 4; // EINTR
    private const int Invalid = 22; // EINVAL: the file system cannot sync a folder (some network and FUSE ones)

    /// <exception cref="IOException">The folder could not be opened or synced.</exception>
    public static void Sync(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        int fd = Open(directory, ReadOnly);
        if (fd < 0)
        {
            throw Error("open", directory, Marshal.GetLastPInvokeError());
        }

        try
        {
            while (FSync(fd) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == Invalid)
                {
                    return; // Nothing to sync on this file system; its files' fsync is all there is.
                }

                if (errno != Interrupted)
                {
                    throw Error("fsync", directory, errno);
                }
            }
        }
        finally
        {
            _ = Close(fd); // A read-only descriptor: close has nothing to report that matters.
        }
    }

    private static IOException Error(string call, string directory, int errno) =>
        new($"{call} of the folder '{directory}' failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).", errno);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FSync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
