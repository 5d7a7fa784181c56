using System.Runtime.InteropServices;

namespace Parley.Cli;

/// <summary>
/// Keeps a file-size limit (RLIMIT_FSIZE: <c>ulimit -f</c>, systemd's <c>LimitFSIZE=</c>) from
/// killing the server. A write past the limit raises SIGXFSZ, whose default action ends the
/// process, and the .NET runtime leaves it at that default. Handled, the write fails with EFBIG
/// instead, which the journal treats as any other disk fault: the message is refused
/// (<c>storage_failed</c>) and the disk tried again later.
/// </summary>
internal static class FileSizeSignal
{
    private const int SigXfsz = 25; // Linux (except MIPS), macOS and the BSDs

    /// <summary>Handles SIGXFSZ until the returned registration is disposed; null on Windows, which has no such signal.</summary>
    public static PosixSignalRegistration? Handle() => OperatingSystem.IsWindows()
        ? null
        : PosixSignalRegistration.Create((PosixSignal)SigXfsz, static context => context.Cancel = true);
}
