using System.Runtime.InteropServices;

namespace Parley.Cli.Bench;

/// <summary>Raises this process's open-files limit (RLIMIT_NOFILE) toward what thousands of sockets need.</summary>
internal static partial class FileLimits
{
    private const int RlimitNoFile = 7; // Linux

    /// <summary>Raises the soft limit to at least <paramref name="wanted"/> (up to the hard limit) and returns the soft limit now in force.</summary>
    public static long Raise(long wanted)
    {
        if (!OperatingSystem.IsLinux() || GetRLimit(RlimitNoFile, out RLimit limit) != 0)
        {
            return -1;
        }

        if (limit.Current >= (ulong)wanted)
        {
            return (long)limit.Current;
        }

        var raised = limit with { Current = Math.Min((ulong)wanted, limit.Maximum) };
        if (raised.Maximum < (ulong)wanted)
        {
            // Root may lift the hard limit too.
            var lifted = new RLimit((ulong)wanted, (ulong)wanted);
            if (SetRLimit(RlimitNoFile, in lifted) == 0)
            {
                return wanted;
            }
        }

        return SetRLimit(RlimitNoFile, in raised) == 0 ? (long)raised.Current : (long)limit.Current;
    }

    [StructLayout(LayoutKind.Sequential)]
    private readonly record struct RLimit(ulong Current, ulong Maximum);

    [LibraryImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    private static partial int GetRLimit(int resource, out RLimit limit);

    [LibraryImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    private static partial int SetRLimit(int resource, in RLimit limit);
}
