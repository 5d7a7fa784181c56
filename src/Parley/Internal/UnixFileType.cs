using System.Runtime.InteropServices;

namespace Parley.Internal;

/// <summary>
/// Whether a path is a socket, for the Unix-domain listener's stale-file check: .NET reports
/// no file type beyond directories and links, so this asks <c>lstat(2)</c>. Only Linux on x64
/// and arm64 is decoded (the only layouts of <c>struct stat</c> known here); anywhere else the
/// answer is "not a socket", which leaves the file alone — the safe side.
/// </summary>
internal static class UnixFileType
{
    private const int FileTypeMask = 0xF000; // S_IFMT (octal 0170000)
    private const int SocketType = 0xC000;   // S_IFSOCK (octal 0140000)

    public static bool IsSocket(string path)
    {
        int modeOffset = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => 24,   // st_dev 8, st_ino 8, st_nlink 8, then st_mode
            Architecture.Arm64 => 16, // st_dev 8, st_ino 8, then st_mode (asm-generic layout)
            _ => -1,
        };
        if (!OperatingSystem.IsLinux() || modeOffset < 0)
        {
            return false;
        }

        byte[] status = new byte[256]; // struct stat is 144 (x64) or 128 (arm64) bytes
        try
        {
            if (LStat(path, status) != 0)
            {
                return false; // gone, or not ours to look at
            }
        }
        catch (Exception ex) when (ex is EntryPointNotFoundException or DllNotFoundException)
        {
            return false; // a C library without lstat (glibc before 2.33 exports __lxstat only)
        }

        int mode = BitConverter.ToInt32(status, modeOffset);
        return (mode & FileTypeMask) == SocketType;
    }

    [DllImport("libc", EntryPoint = "lstat", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int LStat(string path, byte[] status);
}
