using Microsoft.Extensions.Logging;

namespace Parley.Journal;

/// <summary>
/// File modes of the journal: people's messages are private, so the folder is created 0750
/// and its files 0640 (owner read-write, group read: backups and log shippers can run in
/// the owner's group; other users get nothing). A folder or file found wider is reported at
/// open, not changed: the operator may have chosen it.
/// </summary>
internal static class JournalFiles
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
}
