using System.Runtime.InteropServices;

namespace Parley.Ipc;

/// <summary>
/// Linux futex on a 32-bit word in shared memory. The operations are the process-shared ones
/// (no <c>FUTEX_PRIVATE_FLAG</c>): the kernel keys the wait queue by the physical page, so a
/// waiter in one process is woken by a wake in another that maps the same file.
/// </summary>
internal static unsafe partial class Futex
{
    private const int FutexWait = 0;
    private const int FutexWake = 1;

    // syscall numbers differ per architecture (x86-64: 202, arm64 and the generic table: 98).
    private static readonly long s_sysFutex = RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => 202,
        Architecture.X86 => 240,
        _ => 98,
    };

    public static bool IsSupported { get; } = OperatingSystem.IsLinux();

    /// <summary>
    /// Sleeps while <c>*word == expected</c>, at most <paramref name="timeoutMicros"/>
    /// (negative: no limit). Returns at once when the word already differs; spurious returns
    /// are possible, so callers re-check their condition.
    /// </summary>
    public static void Wait(int* word, int expected, long timeoutMicros)
    {
        if (timeoutMicros < 0)
        {
            _ = syscall(s_sysFutex, word, FutexWait, expected, null, null, 0);
            return;
        }

        var timeout = new TimeSpec { Seconds = timeoutMicros / 1_000_000, Nanoseconds = timeoutMicros % 1_000_000 * 1000 };
        _ = syscall(s_sysFutex, word, FutexWait, expected, &timeout, null, 0);
    }

    /// <summary>Wakes every waiter on <paramref name="word"/>.</summary>
    public static void WakeAll(int* word) => _ = syscall(s_sysFutex, word, FutexWake, int.MaxValue, null, null, 0);

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial long syscall(long number, int* address, int operation, int value, TimeSpec* timeout, int* address2, int value3);
}
