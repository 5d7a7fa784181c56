using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Parley.Ipc;

/// <summary>
/// One spin-loop hint between polls of shared memory. <see cref="Thread.SpinWait(int)"/> goes
/// through the runtime and spins a calibrated number of pauses (tens of nanoseconds), which
/// adds that much to every hand-off; a single PAUSE/YIELD is what a C spin loop does.
/// </summary>
internal static class CpuPause
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Once()
    {
        if (X86Base.IsSupported)
        {
            X86Base.Pause();
        }
        else if (ArmBase.IsSupported)
        {
            ArmBase.Yield();
        }
        else
        {
            Thread.SpinWait(1);
        }
    }
}
