namespace Parley.Cli;

/// <summary>
/// Runtime settings for <c>parley serve</c> and <c>parley http</c> that must be in place before
/// the thread pool and the socket engine start, so they are applied first thing in <c>Main</c>,
/// for those commands only.
/// </summary>
/// <remarks>
/// A thread-pool worker with nothing to do spins (yielding the CPU up to 70 times) before it
/// sleeps, betting that work arrives within microseconds. A chat server at a steady moderate load
/// (messages a few hundred microseconds apart) loses that bet nearly every time: in the issue-18
/// profile the spinning was 7.7 % of the process's samples (<c>sched_yield</c>) and the context
/// switches it caused more. Without it, server CPU at the rust-readme load fell from ~75 % to
/// ~61 % of a core, and at an overload (43 k messages/s in) the medians were better, not worse.
/// A saturated echo benchmark, whose work always arrives in microseconds, loses 17–28 % of its
/// throughput without the spin: that is why the setting is <c>serve</c>'s alone and not in
/// the runtime configuration of the whole tool. Figures: docs/benchmarks.md.
/// <para>An operator's own <c>DOTNET_ThreadPool_UnfairSemaphoreSpinLimit</c> (or the runtime
/// configuration knob) wins.</para>
/// </remarks>
internal static class ServeRuntimeTuning
{
    /// <summary>The runtime's switch that runs socket continuations on the socket engine's own
    /// threads — then one per core — instead of handing each to the thread pool.</summary>
    internal const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    internal const string SpinLimitKnob = "System.Threading.ThreadPool.UnfairSemaphoreSpinLimit";
    internal const string SpinLimitVariable = "DOTNET_ThreadPool_UnfairSemaphoreSpinLimit";

    /// <summary>Applies the settings when <paramref name="args"/> run <c>serve</c> or <c>http</c>; true when it did.</summary>
    public static bool Apply(string[] args)
    {
        // parley http: an event loop per core, as nginx runs. A request for a cached file or a
        // sendfile never blocks, so answering on the socket engine's thread costs the others
        // nothing and saves a thread-pool hop per request (docs/benchmarks.md, "Static HTTP").
        if (ShouldInlineSocketCompletions(args, Environment.GetEnvironmentVariable))
        {
            Environment.SetEnvironmentVariable(InlineCompletionsVariable, "1");
            return true;
        }

        if (!ShouldTurnOffSpinning(args, Environment.GetEnvironmentVariable, AppContext.GetData(SpinLimitKnob)))
        {
            return false;
        }

        AppContext.SetData(SpinLimitKnob, 0);
        return true;
    }

    /// <summary>True for <c>http</c> unless the operator set the switch either way.</summary>
    internal static bool ShouldInlineSocketCompletions(string[] args, Func<string, string?> environment) =>
        args is ["http", ..] && environment(InlineCompletionsVariable) is null;

    /// <summary>True for <c>serve</c> when neither the environment nor the runtime configuration sets the spin limit.</summary>
    internal static bool ShouldTurnOffSpinning(string[] args, Func<string, string?> environment, object? configured) =>
        args is ["serve", ..]
        && environment(SpinLimitVariable) is null
        && environment("COMPlus_ThreadPool_UnfairSemaphoreSpinLimit") is null
        && configured is null;
}
