using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Parley.Journal;

/// <summary>
/// File modes of the journal: people's messages are private, so the folder is created 0750
/// and its files 0640 (owner read-write, group read: backups and log shippers can run in
/// the owner's group; other users get nothing). A folder or file found wider is reported at
/// open, not changed: the operator may have chosen it.
/// </summary>
internal static partial class JournalFiles
{
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute;

    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead;

    private const UnixFileMode OtherAccess = UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    public static void CreateDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path); // ACLs inherit from the parent; no mode bits to set
        }
        else
        {
            Directory.CreateDirectory(path, DirectoryMode);
        }
    }

    public static FileStreamOptions Options(System.IO.FileMode mode, FileAccess access, FileShare share, int bufferSize = 4096)
    {
        var options = new FileStreamOptions { Mode = mode, Access = access, Share = share, BufferSize = bufferSize };
        if (!OperatingSystem.IsWindows() && mode != System.IO.FileMode.Open)
        {
            options.UnixCreateMode = FileMode;
        }

        return options;
    }

    /// <summary>Warns about the folder and each segment that other users can read.</summary>
    public static void WarnIfOpen(ILogger logger, string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        UnixFileMode folder = File.GetUnixFileMode(directory);
        if ((folder & OtherAccess) != 0)
        {
            Log.TooOpen(logger, directory, Octal(folder), "750");
        }

        foreach (string file in Directory.EnumerateFiles(directory))
        {
            UnixFileMode mode = File.GetUnixFileMode(file);
            if ((mode & OtherAccess) != 0)
            {
                Log.TooOpen(logger, file, Octal(mode), "640");
            }
        }
    }

    public static string Octal(UnixFileMode mode) => Convert.ToString((int)mode & 0x1FF, 8).PadLeft(4, '0');

    /// <summary>
    /// Makes a folder's entries durable: a file created, renamed or deleted in it is on disk
    /// only once the folder itself is fsynced (on Linux). .NET has no API for it, so this opens
    /// the folder with open(2) and calls fsync(2). On Windows, NTFS journals its metadata and a
    /// folder cannot be flushed this way; there it does nothing.
    /// </summary>
    /// <exception cref="IOException">The folder could not be opened or flushed.</exception>
    public static void SyncDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        int fd = Native.Open(directory, Native.ReadOnly | (OperatingSystem.IsLinux() ? Native.LinuxDirectory : 0));
        if (fd < 0)
        {
            throw new IOException($"Could not open the folder '{directory}' to flush it (errno {Marshal.GetLastPInvokeError()}).");
        }

        try
        {
            if (Native.FSync(fd) != 0)
            {
                throw new IOException($"Could not flush the folder '{directory}' (errno {Marshal.GetLastPInvokeError()}).");
            }
        }
        finally
        {
            _ = Native.Close(fd);
        }
    }

    private static partial class Native
    {
        public const int ReadOnly = 0;
        public const int LinuxDirectory = 0x10000; // O_DIRECTORY on x86-64 and arm64 Linux

        [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int Open(string path, int flags);

        [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
        public static partial int FSync(int fd);

        [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
        public static partial int Close(int fd);
    }
}
